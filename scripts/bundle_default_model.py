"""Turn a trained run's best.pt into the bundled default model (fp16 safetensors + config + card).

Usage: python scripts/bundle_default_model.py RUN_DIR [--eval EVAL_DIR]

Writes src/dermaseg/assets/default_model/{model.safetensors,config.json} and prints the sha256 to pin in
src/dermaseg/models/default.py. The model card (MODEL_CARD.md) is written by hand from the run's
history.csv and the evaluation's metrics.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from dermaseg.models.weights import sha256_file

ASSET = Path(__file__).resolve().parents[1] / "src" / "dermaseg" / "assets" / "default_model"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--auto", default="cnn", choices=["cnn", "cnn+sam"], help="default automatic pipeline")
    ap.add_argument("--tta", action="store_true", help="flip test-time augmentation on by default")
    args = ap.parse_args(argv)
    blob = torch.load(args.run_dir / "best.pt", map_location="cpu", weights_only=True)
    cfg = dict(blob["config"])
    sd = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in blob["state_dict"].items()}
    ASSET.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(ASSET / "model.safetensors"), metadata={"format": "pt"})
    for k in ("pretrained", "source_file"):
        cfg.pop(k, None)
    train_cfg = {}
    if (args.run_dir / "config.json").is_file():
        train_cfg = json.loads((args.run_dir / "config.json").read_text())
    out = {"model": cfg, "threshold": args.threshold, "auto": args.auto, "tta": args.tta,
           "postprocess": True, "training": train_cfg}
    (ASSET / "config.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    digest = sha256_file(ASSET / "model.safetensors")
    size = (ASSET / "model.safetensors").stat().st_size
    print(f"wrote {ASSET}/model.safetensors ({size / 1e6:.1f} MB), sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
