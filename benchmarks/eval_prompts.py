"""Accuracy of one SAM-family model under every prompt source, from one image embedding per image.

``dermaseg evaluate --prompt P`` scores one prompt source per run and re-encodes every image; on a CPU
the image encoder is nearly all the cost, so this script encodes each image once and decodes every
prompt source from that embedding: SkinSAM's simulated ``box`` / ``point`` / ``box+point`` (from the
truth, seed 0, identical to ``dermaseg evaluate --prompt ...``), ``none``, the truth-free ``center`` /
``center-box``, and ``box-from-model`` (the bounding box of the bundled automatic model's mask, the
realistic prompt). Scores are per-image means at each image's own resolution, post-processing on, as
``dermaseg evaluate`` computes them.

Run by hand: ``python benchmarks/eval_prompts.py --model litemedsam [--data DIR] [--n 150]
[--threads 1] [--out FILE.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017"
KINDS = ("box", "point", "box+point", "none", "center", "center-box", "box-from-model")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="litemedsam")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--split", default="val")
    ap.add_argument("--n", type=int, default=None, help="first N images only")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch
    from tqdm import tqdm

    from dermaseg.data.prompts import box_from_mask, make_prompt
    from dermaseg.data.readers import load_dataset
    from dermaseg.evaluation.metrics import image_metrics, summarize
    from dermaseg.inference.predictor import load_predictor
    from dermaseg.io import read_image, read_mask

    torch.set_num_threads(args.threads)
    samples = load_dataset(args.data).select(args.split).samples[: args.n]
    sam = load_predictor(args.model, checkpoint=args.checkpoint, device="cpu")
    auto = load_predictor("default", device="cpu")
    rows: dict[str, list[dict]] = {k: [] for k in KINDS}
    t_encode = 0.0
    t_decode = 0.0
    for s in tqdm(samples, desc=f"{args.model}: all prompts", unit="img"):
        rgb, truth = read_image(s.image), read_mask(s.mask)
        t = time.perf_counter()
        sam.set_image(rgb)
        t_encode += time.perf_counter() - t
        auto.set_image(rgb)
        for kind in KINDS:
            if kind == "box-from-model":
                prompt = box_from_mask(np.asarray(auto.predict().mask, dtype=bool), "default")
            else:
                prompt = make_prompt(kind, truth.shape, truth, seed=0, image_id=s.id)
            t = time.perf_counter()
            pred = sam.predict(**prompt.kwargs())
            t_decode += time.perf_counter() - t
            m = image_metrics(np.asarray(pred.mask, dtype=bool), truth, hd95=False)
            rows[kind].append(m)
    n = len(samples)
    result = {"model": args.model, "data": str(args.data), "split": args.split, "n": n,
              "threads": args.threads, "encode_s_per_image": t_encode / n,
              "decode_s_per_prompt": t_decode / (n * len(KINDS)), "prompts": {}}
    print(f"{args.model} on {n} {args.split} images of {args.data.name}; encoder "
          f"{t_encode / n:.2f} s/image, decoder {1000 * t_decode / (n * len(KINDS)):.0f} ms/prompt "
          f"({args.threads} CPU thread{'s' if args.threads > 1 else ''})")
    print(f"{'prompt':16s} {'Dice':>14s} {'IoU':>14s} {'thr. Jaccard':>14s}")
    for kind, rs in rows.items():
        summ = summarize(rs)["per_image_mean"]
        result["prompts"][kind] = {k: summ[k] for k in ("dice", "iou", "thresholded_jaccard", "accuracy")}
        cells = [f"{summ[k]['mean']:.3f} ± {summ[k]['std']:.3f}" for k in ("dice", "iou", "thresholded_jaccard")]
        print(f"{kind:16s} " + " ".join(f"{c:>14s}" for c in cells))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
