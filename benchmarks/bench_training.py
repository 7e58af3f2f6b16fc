"""Training throughput (images/s) per model on CPU threads, and the SAM embedding cache's speed-up.

    .venv/bin/python benchmarks/bench_training.py [--threads 2] [--models unet-mobilenet_v2,fpn-mobilenet_v2]
        [--size 192x256] [--batch 16] [--steps 5] [--sam litemedsam]

Each model trains on random batches (forward + backward + AdamW step) after one warm-up step; the
figure is images per second of wall time. ``--sam NAMES`` also times, per SAM model, one
epoch of ``skinsam-NAME`` with the embedding cache (embeddings read from disk) against recomputing
every embedding with the frozen image encoder (and prints the ratio), and one epoch of
``melseg-NAME`` (``--no-melseg`` skips it: end-to-end SAM ViT training needs more memory than a
laptop has). Run it on an otherwise idle machine: shared CPUs make every number here lower and
noisier.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def train_throughput(name: str, size: tuple[int, int], batch: int, steps: int) -> float:
    import torch

    from dermaseg.models.registry import create_model
    from dermaseg.training.losses import build_loss

    model = create_model(name, pretrained=False, input_size=list(size))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = build_loss("dicece")
    x = torch.randn(batch, 3, *size)
    y = (torch.rand(batch, 1, *size) > 0.5).float()

    def step() -> None:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t0)


def sam_epoch_seconds(sam: str, n: int = 8, batch: int = 4, melseg: bool = True) -> dict[str, float]:
    """Seconds per training epoch over ``n`` synthetic images for the SAM-family recipes:
    ``skinsam-<sam>`` recomputing every embedding with the frozen encoder, ``skinsam-<sam>`` reading
    them from the embedding cache, and ``melseg-<sam>`` (encoder + FPN + decoder trained end to end)."""
    from dermaseg.data.readers import load_dataset
    from dermaseg.data.synthetic import write_dataset
    from dermaseg.models.registry import create_model
    from dermaseg.training.recipes import get_recipe
    from dermaseg.training.sam_tasks import make_sam_task
    from dermaseg.training.trainer import Trainer

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(Path(tmp) / "data", "folder", n=n, size=(192, 256), seed=0)
        samples = load_dataset(root).samples
        runs = [("skinsam recomputing", "skinsam", False), ("skinsam cached", "skinsam", True)]
        runs += [("melseg", "melseg", False)] if melseg else []
        for label, kind, cached in runs:
            recipe = get_recipe(kind).with_model(f"{kind}-{sam}").override(epochs=1, batch_size=batch)
            model = create_model(recipe.model, pretrained=False)
            task = make_sam_task(model, recipe, samples, [], cache_dir=Path(tmp) / "cache",
                                 use_cache=cached, progress=False)
            if cached:  # the cache is filled once, before the first epoch: not part of an epoch
                task.prepare()
            trainer = Trainer(model, recipe, task, Path(tmp) / f"run-{len(out)}", progress=False)
            t0 = time.perf_counter()
            for b in task.train_batches(0):
                trainer.train_step(b)
            out[label] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="unet-mobilenet_v2,fpn-mobilenet_v2,unet-efficientnet-lite0,"
                                        "fpn-efficientnet-lite0")
    ap.add_argument("--size", default="192x256")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--sam", default=None, help="comma-separated SAM models, e.g. litemedsam,mobilesam: also "
                    "time skinsam (with and without the embedding cache) and melseg epochs")
    ap.add_argument("--no-melseg", action="store_true", help="with --sam: skip the melseg epoch")
    ap.add_argument("--sam-images", type=int, default=8, help="images in the decoder fine-tuning epoch")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    h, w = (int(v) for v in args.size.lower().split("x"))
    print(f"training throughput, {args.threads} CPU threads, batch {args.batch} at {h}x{w}")
    base = None
    for name in [m for m in args.models.split(",") if m]:
        ips = train_throughput(name, (h, w), args.batch, args.steps)
        base = base or ips
        print(f"  {name:28s} {ips:7.1f} images/s   ({ips / base:.2f}x the first)")
    n = args.sam_images
    for sam in [m for m in (args.sam or "").split(",") if m]:
        t = sam_epoch_seconds(sam, n=n, batch=min(4, n), melseg=not args.no_melseg)
        print(f"{sam}: one epoch over {n} images, batch {min(4, n)} (untrained weights; speed only)")
        for label, sec in t.items():
            print(f"  {label:22s} {sec:8.2f} s   {n / sec:7.2f} images/s")
        print(f"  embedding cache speed-up for skinsam-{sam}: "
              f"{t['skinsam recomputing'] / t['skinsam cached']:.1f}x")


if __name__ == "__main__":
    main()
