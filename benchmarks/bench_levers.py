"""Accuracy levers for the bundled automatic model (issue 15), on ISIC 2017 validation, in one run.

For each model given (``default`` and trained files, e.g. a candidate's ``best.pt``), with and without TTA,
and for the probability average of every pair of them: per-image mean Jaccard, Dice, thresholded Jaccard,
recall and precision at each image's own resolution (the ISIC convention; :mod:`dermaseg.evaluation.metrics`),
and model time in images/s (``set_image`` + ``predict`` through the one Predictor, 2 threads by default).
Each row also prints its Jaccard and speed as ratios to the first model's in the same run. An ensemble's speed
is the harmonic combination of its members' (they run one after the other).

The validation set is for *choosing among a few candidates*, never for tuning: thresholds, rules and
hyper-parameters are chosen by cross-validation on the training set (``scripts/calibrate_default.py``).

Run by hand: ``python benchmarks/bench_levers.py --models default,runs/A/best.pt [--no-tta] [--threads 2]
[--limit 150]``.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np

ISIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "isic2017"
KEYS = (("iou", "Jaccard"), ("dice", "Dice"), ("thresholded_jaccard", "thr-J"), ("recall", "recall"),
        ("precision", "precision"))


def _data(limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    from dermaseg.io import read_image, read_mask

    val, gt = ISIC / "ISIC-2017_Validation_Data", ISIC / "ISIC-2017_Validation_Part1_GroundTruth"
    if not val.is_dir():
        raise SystemExit(f"{val}: not found (this benchmark needs the ISIC 2017 validation set)")
    return [(read_image(p), read_mask(gt / f"{p.stem}_segmentation.png")) for p in sorted(val.glob("*.jpg"))[:limit]]


def _probs(model: str, tta: bool, data, threads: int) -> tuple[list[np.ndarray], float, object]:
    """Probability maps at each image's resolution, images/s, and the Predictor (for its settings)."""
    from dermaseg.inference.predictor import load_predictor

    p = load_predictor(model, threads=threads, tta=tta)
    p.set_image(data[0][0])
    p.predict()  # warm-up
    out, t0 = [], time.perf_counter()
    for rgb, _ in data:
        p.set_image(rgb)
        out.append(p.predict().prob.astype(np.float32))
    return out, len(data) / (time.perf_counter() - t0), p


def _score(probs: list[np.ndarray], data, threshold: float, rule: str) -> dict[str, float]:
    from dermaseg.evaluation.metrics import image_metrics, summarize
    from dermaseg.inference.postprocess import clean_mask

    rows = [image_metrics(clean_mask(prob > threshold, prob, rule), truth > 0, hd95=False)
            for prob, (_, truth) in zip(probs, data, strict=True)]
    means = summarize(rows)["per_image_mean"]
    return {k: means[k]["mean"] for k, _ in KEYS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="default", help="comma-separated: model names or trained files")
    ap.add_argument("--no-tta", action="store_true", help="skip the TTA rows")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=150)
    args = ap.parse_args()

    data = _data(args.limit)
    runs: dict[str, tuple[list[np.ndarray], float]] = {}
    threshold, rule = 0.5, "area"
    for i, model in enumerate(m for m in args.models.split(",") if m):
        for tta in (False,) if args.no_tta else (False, True):
            probs, ips, pred = _probs(model, tta, data, args.threads)
            if i == 0 and not tta:  # the first model's pipeline settings score every row
                threshold, rule = pred.threshold, pred.postprocess_rule
            runs[f"{Path(model).parent.name + '/' if Path(model).suffix else ''}{Path(model).name}{'+tta' if tta else ''}"] = (probs, ips)
    rows = [(name, _score(p, data, threshold, rule), ips) for name, (p, ips) in runs.items()]
    for (a, (pa, sa)), (b, (pb, sb)) in itertools.combinations(runs.items(), 2):
        if a.split("+")[0] != b.split("+")[0] and a.endswith("+tta") == b.endswith("+tta"):
            rows.append((f"ensemble({a}, {b})", _score([(x + y) / 2 for x, y in zip(pa, pb, strict=True)], data, threshold, rule),
                         1.0 / (1.0 / sa + 1.0 / sb)))

    ref_j, ref_ips = rows[0][1]["iou"], rows[0][2]
    print(f"ISIC 2017 validation, {len(data)} images, threshold {threshold}, post-processing rule '{rule}', "
          f"{args.threads} threads; ratios to {rows[0][0]}")
    print(f"{'pipeline':<44}" + "".join(f"{label:>10}" for _, label in KEYS) + f"{'img/s':>8}{'J ratio':>9}{'speed':>7}")
    for name, s, ips in rows:
        print(f"{name:<44}" + "".join(f"{s[k]:>10.4f}" for k, _ in KEYS)
              + f"{ips:>8.1f}{s['iou'] / ref_j:>9.3f}{ips / ref_ips:>7.2f}")


if __name__ == "__main__":
    main()
