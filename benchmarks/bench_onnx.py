"""torch vs ONNX Runtime through the one Predictor: equality of the masks and speed, in one run.

Equality (``--limit`` ISIC 2017 validation images + the bundled samples): for each model the torch,
``onnx`` (fp32) and ``onnx-int8`` backends segment every image (``default``: automatic; SAM family: the
box of the truth mask, the box of the torch CNN's mask on the samples, which have no truth); printed: mean
and minimum Dice between the torch and ONNX masks, the largest probability difference, and per-image
Jaccard against the truth for torch, fp32 and int8 (mean, and the mean change int8 - torch).

Speed (``--n`` images, every backend timed on the same image one after the other, so load from other jobs
hits all of them alike; wall and process CPU seconds): ``default`` images/s (set_image + predict), SAM family ``set_image`` and
``predict`` (box) seconds; ratios ONNX / torch. Then, for the LiteMedSAM encoder graph alone, onnxruntime
settings: graph optimisation level (basic / all), 1 vs 2 threads, fp32 vs dynamic int8.

Run by hand: ``python benchmarks/bench_onnx.py [--threads 2] [--limit 150] [--n 10]
[--models default,litemedsam,mobilesam] [--equality-models default,litemedsam] [--sam-limit N]``. Graphs are exported
into ``$DERMASEG_CACHE`` (default ``~/.cache/dermaseg``) on the first run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

ISIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017"
SAMPLES = Path(__file__).resolve().parents[1] / "src" / "dermaseg" / "assets" / "samples"
BACKENDS = ("torch", "onnx", "onnx-int8")


def _data(limit: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """(id, rgb, truth or None): the bundled samples, then up to ``limit`` ISIC 2017 validation images."""
    from dermaseg.io import read_image, read_mask

    out = [(p.stem, read_image(p), None) for p in sorted(SAMPLES.glob("*.jpg"))]
    val = ISIC / "ISIC-2017_Validation_Data"
    gt = ISIC / "ISIC-2017_Validation_Part1_GroundTruth"
    for p in sorted(val.glob("*.jpg"))[:limit] if val.is_dir() else []:
        out.append((p.stem, read_image(p), read_mask(gt / f"{p.stem}_segmentation.png")))
    return out


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def _jaccard(a: np.ndarray, b: np.ndarray) -> float:
    u = int((a | b).sum())
    return 1.0 if u == 0 else int((a & b).sum()) / u


def _box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return None
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def equality(name: str, data, threads: int, cnn, progress: int = 0) -> None:
    from dermaseg.inference.predictor import load_predictor

    preds = {b: load_predictor(name, threads=threads, backend=b) for b in BACKENDS}
    dice = {"onnx": [], "onnx-int8": []}
    maxdiff = 0.0
    jac = {b: [] for b in BACKENDS}
    for _, rgb, truth in data:
        kw = {}
        if preds["torch"].promptable:
            ref = truth if truth is not None else cnn.predict_batch([rgb])[0].mask
            box = _box(ref)
            kw = {"box": box} if box is not None else {}
        res = {}
        for b, p in preds.items():
            p.set_image(rgb)
            res[b] = p.predict(**kw)
        maxdiff = max(maxdiff, float(np.abs(res["torch"].prob - res["onnx"].prob).max()))
        for b in ("onnx", "onnx-int8"):
            dice[b].append(_dice(res["torch"].mask, res[b].mask))
        if truth is not None:
            for b in BACKENDS:
                jac[b].append(_jaccard(res[b].mask, truth))
        if progress and len(dice["onnx"]) % progress == 0:
            print(f"  ... {name}: {len(dice['onnx'])} images, Dice(torch, onnx) mean {np.mean(dice['onnx']):.5f}, "
                  f"int8 {np.mean(dice['onnx-int8']):.5f}", flush=True)
    n_truth = len(jac["torch"])
    print(f"{name}: {len(data)} images ({len(data) - n_truth} samples + {n_truth} ISIC 2017 val)"
          f"{', box of the truth mask' if preds['torch'].promptable else ', automatic'}")
    for b in ("onnx", "onnx-int8"):
        d = np.array(dice[b])
        print(f"  Dice(torch, {b:9s}) mean {d.mean():.5f}  min {d.min():.5f}")
    print(f"  max |prob torch - prob onnx| {maxdiff:.2e}")
    if n_truth:
        j = {b: np.array(v) for b, v in jac.items()}
        print("  Jaccard vs truth: " + ", ".join(f"{b} {j[b].mean():.4f}" for b in BACKENDS)
              + f"; int8 - torch per image: mean {np.mean(j['onnx-int8'] - j['torch']):+.4f}, "
              f"worst {np.min(j['onnx-int8'] - j['torch']):+.4f}; fp32 - torch mean "
              f"{np.mean(j['onnx'] - j['torch']):+.5f}")


_CPU: dict[str, list[float]] = {}


def _t(fn, *a, key: str = "", **kw) -> float:
    """Wall seconds of one call; the process's CPU seconds (all threads) go to ``_CPU[key]``: on a machine
    shared with other jobs wall time inflates, CPU time much less."""
    c, t = time.process_time(), time.perf_counter()
    fn(*a, **kw)
    wall = time.perf_counter() - t
    _CPU.setdefault(key, []).append(time.process_time() - c)
    return wall


def speed(name: str, data, n: int, threads: int) -> None:
    from dermaseg.inference.predictor import load_predictor

    preds = {b: load_predictor(name, threads=threads, backend=b) for b in BACKENDS}
    imgs = [d[1] for d in data[:n]]
    set_t = {b: [] for b in BACKENDS}
    pred_t = {b: [] for b in BACKENDS}
    for p in preds.values():  # warm up
        p.set_image(imgs[0])
        p.predict(**({"box": (10, 10, 100, 100)} if p.promptable else {}))
    for rgb in imgs:
        h, w = rgb.shape[:2]
        kw = {"box": (0.2 * w, 0.2 * h, 0.8 * w, 0.8 * h)} if preds["torch"].promptable else {}
        for b, p in preds.items():
            set_t[b].append(_t(p.set_image, rgb, key=f"{name}/{b}/set"))
            pred_t[b].append(_t(p.predict, key=f"{name}/{b}/predict", **kw))
    med = {b: (statistics.median(set_t[b]), statistics.median(pred_t[b])) for b in BACKENDS}
    print(f"{name} ({len(imgs)} images, {threads} threads, medians; load average {os.getloadavg()[0]:.1f}):")
    cpu = {b: (statistics.median(_CPU[f"{name}/{b}/set"]), statistics.median(_CPU[f"{name}/{b}/predict"]))
           for b in BACKENDS}
    for b in BACKENDS:
        s, q = med[b]
        print(f"  {b:9s} CPU seconds (all threads): set_image {cpu[b][0]:.3f} ({cpu[b][0] / cpu['torch'][0]:.2f}x torch), "
              f"predict {cpu[b][1]:.4f}")
        if preds["torch"].promptable:
            print(f"  {b:9s} set_image {s:.3f} s ({s / med['torch'][0]:.2f}x torch)   predict {1e3 * q:.1f} ms "
                  f"({q / med['torch'][1]:.2f}x torch)")
        else:
            tot = s + q
            print(f"  {b:9s} {1 / tot:.1f} images/s ({med['torch'][0] + med['torch'][1]:.3f} / {tot:.3f} = "
                  f"{(med['torch'][0] + med['torch'][1]) / tot:.2f}x torch's speed)")


def encoder_settings(data, n: int) -> None:
    """The LiteMedSAM encoder graph alone under onnxruntime settings (seconds per image, medians)."""
    import onnxruntime as ort
    import torch

    from dermaseg.export.cache import cached_export
    from dermaseg.models.registry import create_model

    model = create_model("litemedsam").eval()
    xs = []
    with torch.inference_mode():
        for _, rgb, _ in data[:n]:
            x, _ = model.preprocess(rgb)
            xs.append(x[None].numpy().astype(np.float32))
    folders = {"fp32": cached_export(model)[0], "int8": cached_export(model, int8=True)[0]}
    levels = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    configs = [(q, lv, th) for q in folders for lv in levels for th in (1, 2)]
    sessions = {}
    for q, lv, th in configs:
        o = ort.SessionOptions()
        o.graph_optimization_level = levels[lv]
        o.intra_op_num_threads = th
        o.inter_op_num_threads = 1
        sessions[(q, lv, th)] = ort.InferenceSession(str(folders[q] / "encoder.onnx"), o,
                                                     providers=["CPUExecutionProvider"])
    times: dict[tuple, list[float]] = {c: [] for c in configs}
    for s in sessions.values():
        s.run(None, {"image": xs[0]})
    for x in xs:  # interleaved
        for c, s in sessions.items():
            times[c].append(_t(s.run, None, {"image": x}, key=str(c)))
    print(f"LiteMedSAM encoder graph alone ({len(xs)} images, medians; load average {os.getloadavg()[0]:.1f}):")
    for c in configs:
        print(f"  {c[0]} opt={c[1]:5s} threads={c[2]}: {statistics.median(times[c]):.3f} s wall, "
              f"{statistics.median(_CPU[str(c)]):.3f} s CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=150, help="ISIC 2017 validation images for the equality")
    ap.add_argument("--n", type=int, default=10, help="images timed per model")
    ap.add_argument("--models", default="default,litemedsam,mobilesam", help="models timed")
    ap.add_argument("--equality-models", default="default,litemedsam", help="models compared ('' skips)")
    ap.add_argument("--sam-limit", type=int, default=None,
                    help="ISIC images for the SAM-family equality (default: --limit)")
    ap.add_argument("--progress", type=int, default=0, help="print running means every N images")
    ap.add_argument("--no-settings", action="store_true", help="skip the encoder settings table")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    data = _data(a.limit)
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores; other jobs share them)")
    print(f"torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}")
    from dermaseg.inference.predictor import load_predictor

    timed = data[len(list(SAMPLES.glob("*.jpg"))):] or data
    for m in filter(None, a.models.split(",")):
        speed(m, timed, a.n, a.threads)
    if not a.no_settings:
        encoder_settings(timed, a.n)
    cnn = load_predictor("default", threads=a.threads)
    n_samples = len(list(SAMPLES.glob("*.jpg")))
    for m in filter(None, a.equality_models.split(",")):
        sub = data if m == "default" or a.sam_limit is None else data[:n_samples + a.sam_limit]
        equality(m, sub, a.threads, cnn, a.progress)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
