"""Turn a trained run's best.pt into the bundled default model (fp16 safetensors + config + card).

Usage:
  python scripts/bundle_default_model.py RUN_DIR [--weights best|last] [--calibration CAL.json] [--auto cnn] [--tta]
  python scripts/bundle_default_model.py --pipeline-only --calibration CAL.json

Writes src/dermaseg/assets/default_model/{model.safetensors,config.json} from RUN_DIR/best.pt (or last.pt: the
last epoch, when the CV says the epoch should not be chosen on validation) and pins the new sha256 in
src/dermaseg/models/default.py (DEFAULT_SHA256). ``--calibration`` takes the JSON of ``scripts/calibrate_default.py`` (a CV
run of the same recipe): its threshold, post-processing rule and quality model go into config.json, with
the calibration's provenance and out-of-fold figures. ``--pipeline-only`` keeps the bundled weights and
rewrites only those pipeline keys of the existing config.json. Then regenerate the model card's measured
blocks with ``scripts/model_card.py`` (from ``dermaseg evaluate`` runs of the new bundle); its prose is
written by hand.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from dermaseg.models.weights import sha256_file

ASSET = Path(__file__).resolve().parents[1] / "src" / "dermaseg" / "assets" / "default_model"
PIN = Path(__file__).resolve().parents[1] / "src" / "dermaseg" / "models" / "default.py"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path, nargs="?")
    ap.add_argument("--threshold", type=float, default=None, help="default 0.5, or the calibration's")
    ap.add_argument("--calibration", type=Path, default=None, help="scripts/calibrate_default.py's JSON")
    ap.add_argument("--pipeline-only", action="store_true", help="keep the weights; update config.json only")
    ap.add_argument("--auto", default="cnn", choices=["cnn", "cnn+sam"], help="default automatic pipeline")
    ap.add_argument("--tta", action="store_true", help="flip test-time augmentation on by default")
    ap.add_argument("--weights", default="best", choices=["best", "last"], help="RUN_DIR/best.pt or last.pt")
    args = ap.parse_args(argv)
    pipeline = _pipeline(args)
    fold_weights = (pipeline.get("calibration") or {}).get("fold_weights")
    if fold_weights and args.run_dir is not None and fold_weights != f"{args.weights}.pt":
        print(f"warning: {args.calibration}: calibrated on the folds' {fold_weights}, but --weights {args.weights} "
              f"ships {args.weights}.pt: the threshold and quality model were fitted on a different regime",
              file=sys.stderr)
    if args.pipeline_only:
        if args.calibration is None:
            ap.error("--pipeline-only needs --calibration")
        cfg_path = ASSET / "config.json"
        out = json.loads(cfg_path.read_text())
        out.update(pipeline)
        cfg_path.write_text(json.dumps(out, indent=2, default=str) + "\n")
        print(f"updated {cfg_path}: " + ", ".join(sorted(pipeline)))
        return 0
    if args.run_dir is None:
        ap.error("RUN_DIR is required (unless --pipeline-only)")
    blob = torch.load(args.run_dir / f"{args.weights}.pt", map_location="cpu", weights_only=True)
    cfg = dict(blob["config"])
    sd = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in blob["state_dict"].items()}
    ASSET.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(ASSET / "model.safetensors"), metadata={"format": "pt"})
    (ASSET / "model.safetensors").chmod(0o644)  # safetensors writes 0600
    for k in ("pretrained", "source_file"):
        cfg.pop(k, None)
    train_cfg = {}
    if (args.run_dir / "config.json").is_file():
        train_cfg = json.loads((args.run_dir / "config.json").read_text())
    out = {"model": cfg, "auto": args.auto, "tta": args.tta, "postprocess": True, **pipeline,
           "training": train_cfg, "weights_from": {"file": f"{args.weights}.pt",
                                                   "epoch": (blob.get("training") or {}).get("epoch")
                                                   or (blob.get("extra") or {}).get("epoch")}}
    (ASSET / "config.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    digest = sha256_file(ASSET / "model.safetensors")
    size = (ASSET / "model.safetensors").stat().st_size
    print(f"wrote {ASSET}/model.safetensors ({size / 1e6:.1f} MB), sha256 {digest}")
    src = PIN.read_text()
    pinned = re.sub(r'^DEFAULT_SHA256 = "[0-9a-f]{64}"$', f'DEFAULT_SHA256 = "{digest}"', src, count=1, flags=re.M)
    if pinned == src and digest not in src:
        print(f"error: {PIN}: no DEFAULT_SHA256 line to pin", file=sys.stderr)
        return 1
    PIN.write_text(pinned)
    print(f"pinned in {PIN}")
    return 0


#: the calibration JSON's provenance kept in config.json (the model card's CV and quality blocks read them)
CALIBRATION_KEYS = ("cv_dir", "n_images", "folds_used", "folds_total", "cv_recipe", "fold_weights", "tied_with_best",
                    "recall", "precision", "selection", "cv_table", "quality_oof")


def _pipeline(args: argparse.Namespace) -> dict:
    """threshold, postprocess_rule, quality (+ the calibration's provenance) for config.json."""
    out: dict = {"threshold": 0.5 if args.threshold is None else args.threshold}
    if args.calibration is None:
        return out
    cal = json.loads(args.calibration.read_text())
    out["threshold"] = float(cal["threshold"]) if args.threshold is None else args.threshold
    out["postprocess_rule"] = cal["postprocess_rule"]
    out["quality"] = cal["quality"]
    out["calibration"] = {k: cal.get(k) for k in CALIBRATION_KEYS}
    return out


if __name__ == "__main__":
    sys.exit(main())
