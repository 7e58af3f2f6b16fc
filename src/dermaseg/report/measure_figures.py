"""Figures of measurement agreement (predicted vs true masks of the same images), matplotlib (Agg).

Each function takes the two lists of :func:`dermaseg.measure.measure` records (``pred_records[i]`` and
``truth_records[i]`` are image ``i``, as :func:`dermaseg.measure.agreement` takes them) and an output
path, writes one PNG atomically and returns its path, or ``None`` when no image has both values.
Ground truth is drawn **green** and prediction **yellow**, the colours of the report's overlays
(:mod:`dermaseg.report.figures`, after melSeg Fig. 6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.overlays import GREEN, YELLOW
from dermaseg.report.figures import _plt, _save

__all__ = ["bland_altman_diameter", "asymmetry_scatter"]

_EDGE = (0.25, 0.25, 0.25)
_YELLOW_TEXT = (0.65, 0.55, 0.0)  # the prediction yellow, darkened enough to read as text on white


def _pairs(pred: Sequence[dict[str, Any]], truth: Sequence[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    p, t = [], []
    for a, b in zip(pred, truth, strict=True):
        x, y = a.get(key), b.get(key)
        if x is None or y is None:
            continue
        x, y = float(x), float(y)
        if np.isfinite(x) and np.isfinite(y):
            p.append(x)
            t.append(y)
    return np.asarray(p), np.asarray(t)


def _distributions(ax: Any, p: np.ndarray, t: np.ndarray, xlabel: str) -> None:
    """Histograms of the true (filled green) and predicted (yellow outline) values, with a legend."""
    lo, hi = float(min(p.min(), t.min())), float(max(p.max(), t.max()))
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 21)
    ax.hist(t, bins=bins, histtype="stepfilled", color=GREEN, label=f"ground truth (mean {t.mean():.3g})")
    ax.hist(p, bins=bins, histtype="step", color=_EDGE, linewidth=3.6)  # a dark rim, so the yellow reads on white
    ax.hist(p, bins=bins, histtype="step", color=YELLOW, linewidth=2.2, label=f"prediction (mean {p.mean():.3g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("images")
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("distribution")


def bland_altman_diameter(pred_records: Sequence[dict[str, Any]], truth_records: Sequence[dict[str, Any]],
                          path: str | Path) -> Path | None:
    """Bland–Altman plot of the maximum Feret diameter (Bland & Altman 1986): x = mean of predicted and
    true diameter, y = predicted − true, with the bias and the 95 % limits of agreement (bias ± 1.96 SD);
    in mm when every pair has a pixel size, else in pixels. Beside it, both distributions."""
    p, t = _pairs(pred_records, truth_records, "diameter_mm")
    unit = "mm"
    if len(p) == 0 or len(p) < sum(1 for r in truth_records if r.get("diameter_px") is not None):
        p, t = _pairs(pred_records, truth_records, "diameter_px")
        unit = "px"
    if len(p) == 0:
        return None
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.6, 1]})
    mean, diff = (p + t) / 2, p - t
    bias = float(diff.mean())
    ax.scatter(mean, diff, s=16, color=(0.2, 0.3, 0.6), alpha=0.7, edgecolor="none",
               label=f"image (n={len(p)})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axhline(bias, color="tab:red", linewidth=1.5, label=f"bias {bias:+.3g} {unit}")
    if len(p) >= 2:
        sd = float(diff.std(ddof=1))
        lo, hi = bias - 1.96 * sd, bias + 1.96 * sd
        for v in (lo, hi):
            ax.axhline(v, color="tab:red", linestyle="--", linewidth=1.2)
        ax.plot([], [], color="tab:red", linestyle="--", label=f"95 % limits {lo:+.3g} / {hi:+.3g} {unit}")
    ax.set_xlabel(f"mean of predicted and true diameter ({unit})")
    ax.set_ylabel(f"predicted − true diameter ({unit})")
    ax.set_title(f"Bland–Altman: maximum Feret diameter (n={len(p)})")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="best")
    _distributions(ax2, p, t, f"diameter ({unit})")
    fig.tight_layout()
    return _save(fig, Path(path))


def asymmetry_scatter(pred_records: Sequence[dict[str, Any]], truth_records: Sequence[dict[str, Any]],
                      path: str | Path) -> Path | None:
    """Predicted-mask asymmetry against true-mask asymmetry, one point per image, with the identity line
    and Pearson's r in the title; beside it, both distributions."""
    p, t = _pairs(pred_records, truth_records, "asymmetry")
    if len(p) == 0:
        return None
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [1.2, 1]})
    r = None
    if len(p) >= 3 and np.ptp(p) > 0 and np.ptp(t) > 0:
        r = float(np.corrcoef(p, t)[0, 1])
    top = max(float(max(p.max(), t.max())) * 1.05, 0.05)
    ax.plot([0, top], [0, top], color="black", linewidth=1, linestyle="--", label="identity (pred = truth)")
    ax.scatter(t, p, s=18, color=YELLOW, edgecolor=_EDGE, linewidth=0.5, alpha=0.85,
               label=f"image (n={len(p)})")
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_aspect("equal")
    ax.set_xlabel("asymmetry of the ground-truth mask", color=GREEN)
    ax.set_ylabel("asymmetry of the predicted mask", color=_YELLOW_TEXT)
    rt = "r undefined" if r is None else f"Pearson r = {r:.3f}"
    ax.set_title(f"shape asymmetry, predicted vs true ({rt})")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    _distributions(ax2, p, t, "asymmetry (share of area without a mirror partner)")
    fig.tight_layout()
    return _save(fig, Path(path))
