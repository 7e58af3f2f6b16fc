"""Choose the automatic pipeline's threshold and post-processing rule, and fit its quality model, on
out-of-fold (OOF) predictions of a cross-validation run — never on the validation set.

Usage:
  python scripts/calibrate_default.py CV_DIR --data DATA --out calibration.json [--tables DIR] [--weights last]

CV_DIR is a ``dermaseg train --folds 5`` folder (``splits.json``, ``fold_<i>/best.pt`` or, with
``--weights last``, ``fold_<i>/last.pt``: the fold models at their last epoch, when the CV says to train to
the end and the bundle ships the full run's ``last.pt``, so that what is calibrated is what ships); folds whose run
has not finished (no ``fold_<i>/metrics.json``) are skipped and the JSON says which folds were used. Every
training image of a used fold is predicted by the fold model that did not train on it, at its own resolution, through the
Predictor (the one path to a mask; post-processing off, so the raw probability map comes back). Then:

1. every (threshold, rule) of the grid is scored by per-image mean Jaccard, recall and precision over all OOF
   images. Settings whose Jaccard is within one paired standard error of the best one's (the per-image
   differences' standard error) are statistically tied with it; among the tied, the one whose recall and
   precision are closest is chosen (a mask that neither under- nor over-segments), then the threshold
   nearest 0.5, then rule "area". The grid's table is written with the per-fold means of the chosen
   setting (the CV table).
2. the quality model (:mod:`dermaseg.inference.quality`) is fitted on the OOF features and Jaccards of the
   chosen setting; its Spearman correlation and its AUROC for Jaccard < 0.65 are reported both in-sample
   and fold-wise out-of-sample (fitted on four folds' OOF images, scored on the fifth).

The JSON written holds the threshold, the rule, the quality model and those figures;
``scripts/bundle_default_model.py --calibration`` puts them into the bundled model's config.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from dermaseg.data.readers import load_dataset
from dermaseg.data.splits import Splits
from dermaseg.evaluation.metrics import image_metrics
from dermaseg.inference.flags import FAILURE_JACCARD
from dermaseg.inference.postprocess import RULES, clean_mask
from dermaseg.inference.predictor import load_predictor
from dermaseg.inference.quality import auroc, fit_quality, quality_features, spearman
from dermaseg.io import read_image, read_mask

THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)
SELECTION = ("per-image mean Jaccard of out-of-fold predictions; settings within one paired standard error "
             "of the best are tied, and among them the one with recall and precision closest is chosen")


def oof_predictions(cv_dir: Path, data: Path, skip: set[int] | frozenset = frozenset(),
                    weights: str = "best") -> list[dict]:
    """[{id, label, fold, prob (float16 H×W), truth (bool H×W)}] for every image of every finished fold's
    val, predicted by ``fold_<i>/<weights>.pt``, except the folds in ``skip`` (already predicted)."""
    ds = load_dataset(data)
    by_id = {s.id: s for s in ds.samples}
    splits = Splits.load(cv_dir / "splits.json")
    out = []
    for i, fold in enumerate(splits.folds):
        model = cv_dir / f"fold_{i}" / f"{weights}.pt"
        if not (cv_dir / f"fold_{i}" / "metrics.json").is_file():  # not finished (final validation not run)
            print(f"fold {i}: not finished, skipped", file=sys.stderr, flush=True)
            continue
        if i in skip:
            continue
        pred = load_predictor(str(model), postprocess=False, device="cpu")
        t0 = time.perf_counter()
        for sid in fold["val"]:
            s = by_id[sid]
            rgb = read_image(s.image)
            pred.set_image(rgb)
            p = pred.predict().prob
            out.append({"id": sid, "label": s.label or "", "fold": i, "prob": p.astype(np.float16),
                        "truth": read_mask(s.mask), "model_size": tuple(pred.model.input_size)})
        print(f"fold {i}: {len(fold['val'])} OOF images predicted in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    return out


def _cv_recipe(cv_dir: Path, folds: list[int]) -> dict | None:
    """The fold runs' recipe (name, model, input size, epochs), from the first used fold's config.json."""
    try:
        r = json.loads((cv_dir / f"fold_{folds[0]}" / "config.json").read_text())["recipe"]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return {k: r.get(k) for k in ("name", "model", "input_size", "epochs")}


def _stamp(cv_dir: Path, fold: int, weights: str = "best") -> str:
    """Which fold model made a fold's cached OOF maps: its file's name, size and modification time."""
    st = (cv_dir / f"fold_{fold}" / f"{weights}.pt").stat()
    return f"{weights}:{st.st_size}:{st.st_mtime_ns}"


def cut(items: list[dict], threshold: float, rule: str) -> list[np.ndarray]:
    """Every OOF map cut at ``threshold`` and cleaned by ``rule``: the automatic pipeline's masks."""
    out = []
    for it in items:
        p = it["prob"].astype(np.float32)
        out.append(clean_mask(p > threshold, p, rule))
    return out


def score(items: list[dict], masks: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-image Jaccard, recall and precision of ``masks`` against the items' truths."""
    rows = [image_metrics(m, it["truth"], hd95=False) for it, m in zip(items, masks, strict=True)]
    return {k: np.array([r[k] for r in rows], dtype=float) for k in ("iou", "recall", "precision")}


def choose(grid: list[dict], per_image: dict[tuple[str, float], np.ndarray]) -> tuple[dict, list[dict]]:
    """The chosen grid point and the points tied with the best. ``per_image[(rule, t)]``: that point's
    per-image Jaccards (same image order for every point). Tied: mean Jaccard within one standard error of
    the paired per-image differences to the best point. Among the tied: the smallest |recall − precision|,
    then the threshold nearest 0.5, then rule "area"."""
    def pref(g: dict) -> tuple:
        return -abs(g["threshold"] - 0.5), g["rule"] == "area"

    best = max(grid, key=lambda g: (g["jaccard"], *pref(g)))
    jb = per_image[(best["rule"], best["threshold"])]
    tied = []
    for g in grid:
        d = per_image[(g["rule"], g["threshold"])] - jb
        se = float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else 0.0
        if d.mean() >= -se:
            tied.append(g)
    chosen = max(tied, key=lambda g: (-round(abs(g["recall"] - g["precision"]), 4), *pref(g)))
    return chosen, tied


def _finite(o):
    """JSON-safe copy: NaN/inf -> None."""
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_finite(v) for v in o]
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cv_dir", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tables", type=Path, default=None, help="folder for grid.csv, cv_table.csv, oof.csv")
    ap.add_argument("--threshold", type=float, default=None,
                    help="keep this threshold (e.g. 0.5 when the grid's best is within noise of it)")
    ap.add_argument("--rule", default=None, choices=RULES, help="keep this post-processing rule")
    ap.add_argument("--weights", default="best", choices=["best", "last"],
                    help="each fold's best.pt (epoch chosen on the fold's own val) or last.pt (its last epoch)")
    args = ap.parse_args(argv)
    # OOF maps are cached per fold: a fold that finished since the last call is predicted and added; a fold
    # whose best.pt changed (re-trained) is predicted again
    cache = args.cv_dir / "oof_probs.npz"
    items: list[dict] = []
    if cache.is_file():
        z = np.load(cache, allow_pickle=True)
        items = list(z["items"])
        stamps = z["stamps"].item() if "stamps" in z.files else {}
        stale = {f for f in {it["fold"] for it in items} if stamps.get(f) != _stamp(args.cv_dir, f, args.weights)}
        items = [it for it in items if it["fold"] not in stale]
    have = {it["fold"] for it in items}
    new = oof_predictions(args.cv_dir, args.data, skip=have, weights=args.weights)
    if new or not cache.is_file():
        items = sorted(items + new, key=lambda it: it["fold"])
        stamps = {f: _stamp(args.cv_dir, f, args.weights) for f in {it["fold"] for it in items}}
        np.savez(cache, items=np.array(items, dtype=object), stamps=np.array(stamps, dtype=object))
    if not items:
        ap.error(f"{args.cv_dir}: no finished fold (fold_<i>/metrics.json) to calibrate on")
    folds = np.array([it["fold"] for it in items])
    grid, scores = [], {}
    for rule in RULES:
        for t in THRESHOLDS:
            m = scores[(rule, t)] = score(items, cut(items, t, rule))
            j = m["iou"]
            grid.append({"rule": rule, "threshold": t, "jaccard": float(j.mean()),
                         "thresholded_jaccard": float(np.where(j < FAILURE_JACCARD, 0, j).mean()),
                         "recall": float(m["recall"].mean()), "precision": float(m["precision"].mean()),
                         "failures": int((j < FAILURE_JACCARD).sum())})
            g = grid[-1]
            print(f"{rule:4s} t={t:.2f}: OOF Jaccard {g['jaccard']:.4f}  thr. J {g['thresholded_jaccard']:.4f}  "
                  f"recall {g['recall']:.3f}  precision {g['precision']:.3f}", file=sys.stderr, flush=True)
    best, tied = choose(grid, {k: v["iou"] for k, v in scores.items()})
    fixed = [g for g in grid if (args.threshold is None or abs(g["threshold"] - args.threshold) < 1e-9)
             and (args.rule is None or g["rule"] == args.rule)]
    if args.threshold is not None or args.rule is not None:
        if not fixed:
            ap.error("--threshold/--rule: not a point of the grid")
        best = max(fixed, key=lambda g: g["jaccard"])
    t, rule = best["threshold"], best["rule"]
    chosen = scores[(rule, t)]
    j, masks = chosen["iou"], cut(items, t, rule)  # the masks again (the grid keeps only their scores)
    size = tuple(items[0].get("model_size") or items[0]["prob"].shape)
    feats = np.stack([quality_features(it["prob"].astype(np.float32), m, size)
                      for it, m in zip(items, masks, strict=True)])
    fail = j < FAILURE_JACCARD
    model = fit_quality(feats, j, size=size)
    q_in = model.predict(feats)
    q_oof = np.full_like(j, np.nan)  # fold-wise held out: needs two folds at least
    for f in np.unique(folds) if len(np.unique(folds)) > 1 else ():
        held = folds == f
        q_oof[held] = fit_quality(feats[~held], j[~held]).predict(feats[held])
    held_out = bool(np.isfinite(q_oof).all())
    cv_rows = []
    for f in np.unique(folds):
        sel = folds == f
        jf = j[sel]
        cv_rows.append({"fold": int(f), "n": int(sel.sum()), "jaccard": float(jf.mean()),
                        "thresholded_jaccard": float(np.where(jf < FAILURE_JACCARD, 0, jf).mean()),
                        "dice": float(np.mean(2 * jf / (1 + jf))), "recall": float(chosen["recall"][sel].mean()),
                        "precision": float(chosen["precision"][sel].mean())})
    result = {
        "cv_dir": str(args.cv_dir), "n_images": len(items), "folds_used": sorted(int(f) for f in np.unique(folds)),
        "folds_total": len(Splits.load(args.cv_dir / "splits.json").folds),
        "threshold": t, "postprocess_rule": rule, "cv_recipe": _cv_recipe(args.cv_dir, sorted(set(folds.tolist()))),
        "fold_weights": f"{args.weights}.pt",
        "selection": (SELECTION if not fixed or len(fixed) == len(grid)
                      else f"fixed by the user (--threshold {args.threshold}, --rule {args.rule}); grid for reference"),
        "tied_with_best": [{"rule": g["rule"], "threshold": g["threshold"]} for g in tied],
        "recall": best["recall"], "precision": best["precision"],
        "grid": grid, "cv_table": cv_rows,
        "quality": model.to_dict(),
        "quality_oof": {"spearman_in_sample": spearman(q_in, j), "auroc_in_sample": auroc(-q_in, fail),
                        "spearman_fold_held_out": spearman(q_oof, j) if held_out else None,
                        "auroc_fold_held_out": auroc(-q_oof, fail) if held_out else None,
                        "failures": int(fail.sum())},
    }
    args.out.write_text(json.dumps(_finite(result), indent=2) + "\n")
    if args.tables:
        import pandas as pd

        args.tables.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(grid).to_csv(args.tables / "grid.csv", index=False, float_format="%.4f")
        pd.DataFrame(cv_rows).to_csv(args.tables / "cv_table.csv", index=False, float_format="%.4f")
        pd.DataFrame({"id": [it["id"] for it in items], "label": [it["label"] for it in items], "fold": folds,
                      "jaccard": j, "quality_fold_held_out": q_oof}).to_csv(
            args.tables / "oof.csv", index=False, float_format="%.4f")
    print(json.dumps({k: result[k] for k in ("threshold", "postprocess_rule", "tied_with_best", "recall", "precision",
                                             "quality_oof")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
