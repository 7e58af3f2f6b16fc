"""Interactive segmentation by the standard NoC protocol: a box, then up to 10 corrective clicks.

Protocol (per image, at the image's own resolution, through the one Predictor):

1. the box: the truth's bounding box (a prompt from the ground truth, labelled so);
2. up to ``--clicks`` (10) clicks, each at the centre of the largest error region of the current mask
   (:func:`dermaseg.data.clicks.next_click`: the maximum of the distance transform of the missed or the
   false lesion, positive in a missed area, negative in a false one); every call sends the box and all the
   clicks so far, and the Predictor feeds the previous low-res logits back (iterative refinement).

Reported per model and dataset: NoC@85 / NoC@90 (interactions to reach IoU 0.85 / 0.90, the box counting as
the first; an image that never gets there counts 1 + clicks), the share of images that never get there,
mean IoU after the box and after 1, 3, 5 clicks, and the share of clicks that lower IoU by more than 0.01.
Also the time of one click's ``predict`` (box + 1 click, logits fed back) against the same call with
refinement off (today's ``predict``), median over the images, as a ratio measured in the same run.

Models sharing an image encoder (``litemedsam`` and ``litemedsam-derm``) share each image's embedding.

Run by hand (CPU is fine, the encoder dominates):
``python benchmarks/noc.py --models litemedsam,litemedsam-derm,mobilesam [--checkpoint sam_vit_b_01ec64.pth]
[--n-isic 150] [--n-ph2 100] [--out noc.json]`` (``sam-vit-b`` joins the models when ``--checkpoint`` is given).
``--curves FILE.jsonl`` appends each image's IoU curve and timings as it is done and skips images already in the
file (resumable; runs for different models may share one file); ``--summarise FILE.jsonl`` prints the table from
such a file over the images every listed model has done (the same images for every model).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
THRESHOLDS = (0.85, 0.90)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    u = np.logical_or(a, b).sum()
    return 1.0 if u == 0 else float(np.logical_and(a, b).sum() / u)


def session(pred, truth: np.ndarray, clicks: int) -> tuple[list[float], float, float]:
    """One image's protocol on a Predictor with the image set -> (IoU after the box and each click,
    seconds of the first click's predict, seconds of the same call with refinement off)."""
    from dermaseg.data.clicks import next_click
    from dermaseg.data.prompts import mask_bbox

    box = mask_bbox(truth)
    pred.reset_prompts()
    out = pred.predict(box=box, source="ground truth (bounding box)")
    ious, pts, labs = [_iou(out.mask, truth)], [], []
    t_click = t_plain = float("nan")
    for k in range(clicks):
        c = next_click(out.mask, truth)
        if c is None:
            ious += [ious[-1]] * (clicks - k)
            break
        pts.append((c[0], c[1]))
        labs.append(c[2])
        t0 = time.perf_counter()
        out = pred.predict(box=box, points=pts, point_labels=labs, source="ground truth (NoC clicks)")
        dt = time.perf_counter() - t0
        if k == 0:
            t_click = dt
            state = pred._cache.get("session")
            pred.refine = False
            t0 = time.perf_counter()
            pred.predict(box=box, points=pts, point_labels=labs)
            t_plain = time.perf_counter() - t0
            pred.refine = True
            pred._cache["session"] = state
        ious.append(_iou(out.mask, truth))
    return ious, t_click, t_plain


def summarise(curves: list[list[float]], clicks: int) -> dict:
    c = np.asarray(curves)  # n × (1 + clicks)
    out = {"n_images": int(len(c))}
    for t in THRESHOLDS:
        reached = c >= t
        first = np.where(reached.any(1), reached.argmax(1) + 1, clicks + 1)
        out[f"noc@{round(t * 100)}"] = float(first.mean())
        out[f"failed@{round(t * 100)}"] = float((~reached.any(1)).mean())
    for k in (0, 1, 3, 5):
        out[f"iou_{k}"] = float(c[:, min(k, clicks)].mean())
    d = np.diff(c, axis=1)
    out["clicks_hurting"] = float((d < -0.01).mean())
    return out


def _pairs(root: Path) -> list:
    """``images/*.jpg`` with ``masks/<stem>_lesion.png`` (ph2_dev's layout; its metadata.csv has no column
    the folder reader groups by), as objects with ``image`` and ``mask``."""
    from types import SimpleNamespace

    out = []
    for im in sorted((root / "images").iterdir()):
        m = root / "masks" / f"{im.stem}_lesion.png"
        if m.is_file():
            out.append(SimpleNamespace(image=im, mask=m))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="litemedsam,mobilesam,litemedsam-derm")
    ap.add_argument("--checkpoint", default=None, help="SAM ViT-b checkpoint: adds sam-vit-b")
    ap.add_argument("--isic", type=Path, default=SHARED / "isic2017")
    ap.add_argument("--ph2", type=Path, default=SHARED / "ph2_dev")
    ap.add_argument("--n-isic", type=int, default=150)
    ap.add_argument("--n-ph2", type=int, default=100)
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--curves", type=Path, default=None, help="append per-image curves here (resumable)")
    ap.add_argument("--summarise", type=Path, default=None, help="print the table from a --curves file")
    args = ap.parse_args()
    if args.summarise:
        return report(from_curves(args.summarise, [m for m in args.models.split(",") if m], args.clicks), args)

    import torch

    from dermaseg.data.readers import load_dataset
    from dermaseg.inference.predictor import ImageState, load_predictor
    from dermaseg.inference.sam_steps import Embedding
    from dermaseg.io import read_image, read_mask
    from dermaseg.models.sam.fast_inference import prepare
    from dermaseg.training.caches import encoder_fingerprint

    torch.set_num_threads(args.threads)
    names = [m for m in args.models.split(",") if m]
    if args.checkpoint:
        names.append("sam-vit-b")
    preds = {m: load_predictor(m, checkpoint=args.checkpoint if m.startswith("sam-vit") else None, device="cpu")
             for m in names}
    prints = {m: encoder_fingerprint(p.model) for m, p in preds.items()}
    sets = {}
    if args.n_isic:
        sets["ISIC 2017 val"] = load_dataset(args.isic).select("val").samples[: args.n_isic]
    if args.n_ph2:
        sets["PH2 dev"] = _pairs(args.ph2)[: args.n_ph2]
    results: dict = {"protocol": __doc__.split("\n\n")[1], "machine": "shared CPU (timings are ratios)",
                     "threads": args.threads, "rows": []}
    seen = set()
    if args.curves and args.curves.is_file():
        seen = {(r["dataset"], r["image"], r["model"]) for r in _read_curves(args.curves)}
    for dname, samples in sets.items():
        curves = {m: [] for m in names}
        times = {m: [] for m in names}
        for i, s in enumerate(samples):
            todo = {m: p for m, p in preds.items() if (dname, Path(s.image).stem, m) not in seen}
            if not todo:
                continue
            rgb, truth = read_image(s.image), read_mask(s.mask)
            done: dict[str, object] = {}
            for m, p in todo.items():
                if prints[m] in done:  # same encoder: reuse the embedding, prepare this decoder
                    e = done[prints[m]]
                    emb = Embedding(e.tensor, e.size, e.scale, e.resized, prepared=prepare(p.model, e.tensor))
                    p.restore_image(ImageState(rgb, {"sam": emb}, id(p)))
                else:
                    p.set_image(rgb)
                    done[prints[m]] = p._cache["sam"]
                ious, tc, tp = session(p, truth, args.clicks)
                curves[m].append(ious)
                times[m].append((tc, tp))
                if args.curves:
                    with open(args.curves, "a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"dataset": dname, "image": Path(s.image).stem, "model": m,
                                             "ious": ious, "t_click": tc, "t_plain": tp}) + "\n")
            print(f"{dname} {i + 1}/{len(samples)} " + " ".join(
                f"{m}:{curves[m][-1][0]:.3f}->{curves[m][-1][min(3, args.clicks)]:.3f}" for m in todo), flush=True)
        for m in names:
            if curves[m]:
                results["rows"].append(_row(m, dname, curves[m], times[m], args.clicks))
                print(json.dumps(results["rows"][-1]), flush=True)
    report(results, args)


def _row(m: str, dname: str, curves: list, times: list, clicks: int) -> dict:
    row = {"model": m, "dataset": dname, **summarise(curves, clicks)}
    t = np.asarray([x for x in times if np.isfinite(x[0]) and np.isfinite(x[1])])
    if len(t):
        row["click_predict_s"] = float(np.median(t[:, 0]))
        row["click_predict_ratio_vs_unrefined"] = float(np.median(t[:, 0] / t[:, 1]))
    return row


def _read_curves(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut short by an interrupted run
            pass
    return out


def from_curves(path: Path, names: list[str], clicks: int) -> dict:
    """The results of a ``--curves`` file over the images every model in ``names`` has done."""
    recs = _read_curves(path)
    results: dict = {"protocol": __doc__.split("\n\n")[1], "machine": "shared CPU (timings are ratios)",
                     "source": str(path), "rows": []}
    for dname in dict.fromkeys(r["dataset"] for r in recs):
        by = {m: {r["image"]: r for r in recs if r["dataset"] == dname and r["model"] == m} for m in names}
        common = [i for i in by[names[0]] if all(i in by[m] for m in names)]
        for m in names:
            if common:
                rs = [by[m][i] for i in common]
                results["rows"].append(_row(m, dname, [r["ious"] for r in rs],
                                            [(r["t_click"], r["t_plain"]) for r in rs], clicks))
    return results


def report(results: dict, args) -> None:
    """Print the Markdown table; write ``--out``."""
    print("\n| model | dataset | n | NoC@85 | NoC@90 | IoU box | 1 click | 3 clicks | 5 clicks | clicks hurting |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results["rows"]:
        print(f"| {r['model']} | {r['dataset']} | {r['n_images']} | {r['noc@85']:.2f} | {r['noc@90']:.2f} | "
              f"{r['iou_0']:.3f} | {r['iou_1']:.3f} | {r['iou_3']:.3f} | {r['iou_5']:.3f} | "
              f"{100 * r['clicks_hurting']:.1f} % |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return None


if __name__ == "__main__":
    main()
