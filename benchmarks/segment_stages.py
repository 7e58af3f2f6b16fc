"""Where `dermaseg segment`'s time per image goes on this machine: decoding the image file, the model
(``set_image`` + ``predict``), and writing the three PNGs (mask, probability map, overlay), each timed
separately over the same images; the basis of docs/scaling.md's estimates.

Images: ISIC 2017 validation JPEGs (../shared/data, stored at 256×192)
when present, else synthetic PNGs. Run by hand:
``python benchmarks/segment_stages.py [--n 30] [--threads 1] [--model default] [--box]``.
Prints milliseconds per image for each stage and each stage's share of the total.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"


def _files(n: int, tmp: Path) -> list[Path]:
    files = sorted(VAL.glob("*.jpg"))[:n] if VAL.is_dir() else []
    if len(files) < n:
        from dermaseg.data.synthetic import write_dataset

        root = write_dataset(tmp / "syn", "folder", n=n - len(files), size=(192, 256), seed=0)
        files += sorted(p for p in Path(root).rglob("*.png") if "mask" not in p.name)[:n - len(files)]
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--model", default="default")
    ap.add_argument("--box", action="store_true", help="prompt a centred box (SAM models)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from dermaseg.data.prompts import Prompt
    from dermaseg.inference.predictor import load_predictor
    from dermaseg.io import read_image, write_png
    from dermaseg.overlays import draw_overlay

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        files = _files(args.n, tmp)
        pred = load_predictor(args.model, device="cpu")
        read_image(files[0])  # warm-up: codecs, the model's first call
        rgb0 = read_image(files[0])
        pred.set_image(rgb0)
        t = {"decode": 0.0, "model": 0.0, "write": 0.0}
        sizes = []
        for i, f in enumerate(files):
            t0 = time.perf_counter()
            rgb = read_image(f)
            t1 = time.perf_counter()
            pred.set_image(rgb)
            h, w = rgb.shape[:2]
            prompt = Prompt(box=(w * 0.2, h * 0.2, w * 0.8, h * 0.8)) if args.box else None
            p = pred.predict(prompt) if prompt is not None else pred.predict()
            t2 = time.perf_counter()
            write_png(tmp / f"{i}_mask.png", p.mask)
            write_png(tmp / f"{i}_prob.png", np.clip(p.prob * 255.0 + 0.5, 0, 255).astype(np.uint8))
            write_png(tmp / f"{i}_overlay.png", draw_overlay(rgb, p.mask, p.box, p.points))
            t3 = time.perf_counter()
            t["decode"] += t1 - t0
            t["model"] += t2 - t1
            t["write"] += t3 - t2
            sizes.append((h, w))
    total = sum(t.values())
    print(f"{len(files)} images ({sizes[0][1]}x{sizes[0][0]} first), model {args.model}, {args.threads} thread(s)")
    for k, v in t.items():
        print(f"  {k:6s} {1000 * v / len(files):8.1f} ms/image  ({100 * v / total:4.1f} %)")
    print(f"  total  {1000 * total / len(files):8.1f} ms/image  ({len(files) / total:.1f} images/s)")


if __name__ == "__main__":
    main()
