"""Fitting and cross-validating the measurement rules against dermatologists' labels (PH2).

Everything here works on a *table of per-image outputs* of :func:`dermaseg.measure.measure` (one dict
per image with the ``share_*`` and asymmetry columns), so the figures can be recomputed from a saved
table without the images (``benchmarks/measure_experts.py`` writes it, a test recomputes it).

- Folds: :func:`folds`, ``k`` folds stratified by diagnosis and seeded. PH2 has one image per lesion,
  so image folds are lesion-grouped folds.
- Colours: :func:`fit_min_shares` chooses, per colour, the minimum share ``t`` ("present when share >
  t") that maximises the balanced accuracy ``½(sensitivity + specificity)`` on the given images
  (candidates: 0 and the midpoints between consecutive observed shares; ties: the smallest ``t``).
- Asymmetry: :func:`fit_asymmetry` chooses the colour weight ``w`` (from ``WEIGHTS``) and the two cut
  points of ``asymmetry_score`` (:func:`dermaseg.measure.asymmetry.combined_asymmetry`) maximising the
  quadratic-weighted Cohen's kappa (Cohen 1968) of the 0/1/2 grade against the experts' 0/1/2.
- :func:`cross_validate`: each fold's parameters fitted on the other folds only, scored on the fold;
  returns every fold's figures and the pooled out-of-fold figures (the honest estimate).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.measure.asymmetry import combined_asymmetry
from dermaseg.measure.colour import COLOUR_NAMES

__all__ = ["PH2_COLOURS", "SHARE_COLUMNS", "WEIGHTS", "read_experts", "folds", "balanced_accuracy",
           "spearman", "weighted_kappa", "fit_min_shares", "fit_asymmetry", "colour_figures",
           "asymmetry_figures", "cross_validate", "fit_all"]

#: PH2's colour names (metadata ``colors``) -> dermaseg's
PH2_COLOURS = {"White": "white", "Red": "red", "Light-Brown": "light brown", "Dark-Brown": "dark brown",
               "Blue-Gray": "blue-grey", "Black": "black"}
SHARE_COLUMNS = tuple("share_" + n.replace(" ", "_").replace("-", "_") for n in COLOUR_NAMES)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)


def read_experts(metadata_csv: str | Path) -> dict[str, dict[str, Any]]:
    """``image_id -> {"colours": set of dermaseg names, "asymmetry": 0/1/2, "diagnosis": str,
    "blue_whitish_veil": bool}`` from PH2's metadata.csv (ph2_dev layout)."""
    out: dict[str, dict[str, Any]] = {}
    with open(metadata_csv, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            cols = {PH2_COLOURS[c.strip()] for c in r["colors"].split(";") if c.strip()}
            out[r["image_id"]] = {"colours": cols, "asymmetry": int(r["asymmetry"]),
                                  "diagnosis": r["clinical_diagnosis"],
                                  "blue_whitish_veil": r["blue_whitish_veil"].strip() not in ("", "A")}
    return out


def folds(strata: Sequence[str], k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """Fold index (0..k-1) per item: within each stratum, a seeded shuffle dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(strata), dtype=int)
    for s in sorted(set(strata)):
        idx = [i for i, v in enumerate(strata) if v == s]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            fold[i] = j % k
    return [np.flatnonzero(fold == f) for f in range(k)]


def _rates(y: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None]:
    se = float((p & y).sum() / y.sum()) if y.sum() else None
    sp = float((~p & ~y).sum() / (~y).sum()) if (~y).sum() else None
    return se, sp


def balanced_accuracy(y: np.ndarray, p: np.ndarray) -> float | None:
    """½(sensitivity + specificity) of bool predictions ``p`` against bool truth ``y``; with one class
    only, the rate of that class (``None`` when empty)."""
    se, sp = _rates(np.asarray(y, bool), np.asarray(p, bool))
    vals = [v for v in (se, sp) if v is not None]
    return float(np.mean(vals)) if vals else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); ``None`` when either is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if np.std(rx) == 0 or np.std(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def weighted_kappa(a: Sequence[int], b: Sequence[int], n: int = 3) -> float | None:
    """Quadratic-weighted Cohen's kappa of two 0..n-1 ratings (Cohen 1968); ``None`` when undefined."""
    a, b = np.asarray(a, int), np.asarray(b, int)
    obs = np.zeros((n, n))
    np.add.at(obs, (a, b), 1)
    obs /= obs.sum()
    exp = np.outer(obs.sum(1), obs.sum(0))
    w = (np.subtract.outer(np.arange(n), np.arange(n)) ** 2) / (n - 1) ** 2
    den = (w * exp).sum()
    return None if den == 0 else float(1 - (w * obs).sum() / den)


def _best_threshold(s: np.ndarray, y: np.ndarray) -> float:
    u = np.unique(s)
    cand = np.r_[0.0, (u[1:] + u[:-1]) / 2] if len(u) > 1 else np.array([0.0])
    scores = [balanced_accuracy(y, s > t) or 0.0 for t in cand]
    return float(cand[int(np.argmax(scores))])  # argmax: the first (smallest) of the best


def fit_min_shares(shares: np.ndarray, present: np.ndarray) -> dict[str, float]:
    """Per-colour minimum share (module docstring): ``shares`` N×6, ``present`` N×6 bool."""
    return {n: _best_threshold(shares[:, c], present[:, c]) for c, n in enumerate(COLOUR_NAMES)}


def _scores(rows: Sequence[Mapping[str, Any]], w: float) -> np.ndarray:
    return np.array([combined_asymmetry(r["asymmetry_major"], r["asymmetry_minor"],
                                        r.get("colour_dist_asymmetry_major"), r.get("colour_dist_asymmetry_minor"),
                                        w, (np.inf, np.inf))[0] for r in rows])


def _grade(score: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    return (score > cuts[0]).astype(int) + (score > cuts[1]).astype(int)


def fit_asymmetry(rows: Sequence[Mapping[str, Any]], experts: Sequence[int],
                  weights: Sequence[float] = WEIGHTS) -> dict[str, Any]:
    """``{"colour_weight", "cuts"}`` maximising the quadratic-weighted kappa (module docstring);
    ``weights=(0.0,)`` fits the shape-only grade."""
    y = np.asarray(experts, int)
    best: tuple[float, float, tuple[float, float]] = (-np.inf, 0.0, (0.0, 0.0))
    for w in weights:
        s = _scores(rows, w)
        cand = np.unique(np.quantile(s, np.linspace(0.02, 0.98, 49)))
        for i, c1 in enumerate(cand):
            for c2 in cand[i:]:
                k = weighted_kappa(y, _grade(s, (c1, c2))) or -1.0
                if k > best[0] + 1e-12:
                    best = (k, w, (float(c1), float(c2)))
    return {"colour_weight": best[1], "cuts": list(best[2])}


def colour_figures(present: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Per-colour sensitivity, specificity, balanced accuracy, and the mean balanced accuracy."""
    out: dict[str, Any] = {}
    for c, n in enumerate(COLOUR_NAMES):
        se, sp = _rates(present[:, c], pred[:, c])
        out[n] = {"positives": int(present[:, c].sum()), "sensitivity": se, "specificity": sp,
                  "balanced_accuracy": balanced_accuracy(present[:, c], pred[:, c])}
    bas = [v["balanced_accuracy"] for v in out.values() if v["balanced_accuracy"] is not None]
    out["mean_balanced_accuracy"] = float(np.mean(bas))
    return out


def asymmetry_figures(experts: np.ndarray, score: np.ndarray, grade: np.ndarray) -> dict[str, Any]:
    """Spearman of the score and of the grade, quadratic-weighted kappa and exact agreement of the grade."""
    return {"spearman_score": spearman(score, experts), "spearman_grade": spearman(grade, experts),
            "weighted_kappa": weighted_kappa(experts, grade), "exact_agreement": float(np.mean(grade == experts))}


def _arrays(rows: Sequence[Mapping[str, Any]], experts: Mapping[str, Mapping[str, Any]]):
    ids = [str(r["image"]) for r in rows]
    shares = np.array([[float(r[c]) for c in SHARE_COLUMNS] for r in rows])
    present = np.array([[n in experts[i]["colours"] for n in COLOUR_NAMES] for i in ids])
    asym = np.array([experts[i]["asymmetry"] for i in ids])
    return ids, shares, present, asym


def fit_all(rows: Sequence[Mapping[str, Any]], experts: Mapping[str, Mapping[str, Any]],
            weights: Sequence[float] = WEIGHTS) -> dict[str, Any]:
    """The rules' parameters fitted on all ``rows`` (what ``rules.json`` ships)."""
    _, shares, present, asym = _arrays(rows, experts)
    return {"min_share": fit_min_shares(shares, present), "asymmetry": fit_asymmetry(rows, asym, weights)}


def cross_validate(rows: Sequence[Mapping[str, Any]], experts: Mapping[str, Mapping[str, Any]], k: int = 5,
                   seed: int = 0, weights: Sequence[float] = WEIGHTS) -> dict[str, Any]:
    """Every fold's fitted parameters and figures, and the pooled out-of-fold figures (module docstring).
    ``rows``: per-image outputs with ``image`` = PH2 image id; ``experts``: :func:`read_experts`."""
    ids, shares, present, asym = _arrays(rows, experts)
    fold_idx = folds([experts[i]["diagnosis"] for i in ids], k=k, seed=seed)
    pred = np.zeros_like(present)
    score = np.zeros(len(ids))
    grade = np.zeros(len(ids), int)
    per_fold = []
    for f, te in enumerate(fold_idx):
        tr = np.setdiff1d(np.arange(len(ids)), te)
        thr = fit_min_shares(shares[tr], present[tr])
        pred[te] = shares[te] > np.array([thr[n] for n in COLOUR_NAMES])
        a = fit_asymmetry([rows[i] for i in tr], asym[tr], weights)
        score[te] = _scores([rows[i] for i in te], a["colour_weight"])
        grade[te] = _grade(score[te], tuple(a["cuts"]))
        per_fold.append({"fold": f, "n": int(len(te)), "min_share": thr, "asymmetry_params": a,
                         "colours": colour_figures(present[te], pred[te]),
                         "asymmetry": asymmetry_figures(asym[te], score[te], grade[te])})
    return {"k": k, "seed": seed, "n": len(ids), "folds": per_fold,
            "pooled": {"colours": colour_figures(present, pred), "asymmetry": asymmetry_figures(asym, score, grade)},
            "out_of_fold": {"ids": ids, "colours": pred.tolist(), "score": score.tolist(), "grade": grade.tolist()}}
