"""The report's figures, drawn with matplotlib (Agg) only from saved run files, never from a model.

Each function takes already-loaded data (rows of per_image.csv, cases.json entries with their PNGs,
metrics.json's pooled counts, history.csv) and writes one PNG, returning its path (or ``None`` when the
run has nothing to draw). One colour pair in every figure (:mod:`dermaseg.overlays`): ground truth
**green**, prediction **yellow** (melSeg Fig. 6), prompts cyan; thin lines get a dark rim so that they read
on light skin. Every figure has a legend (or a labelled colour bar). Images are shown with
``origin="upper"`` (row 0 at the top), contours in (column, row) order, so nothing is flipped or
transposed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.evaluation.metrics import METRICS
from dermaseg.inference.postprocess import FAILURE_JACCARD
from dermaseg.io import atomic_path, read_image, read_mask
from dermaseg.overlays import BOTH, EDGE_COLOUR, PRED_COLOUR, PROMPT_COLOUR, TRUTH_COLOUR, contours, tint

__all__ = [
    "case_panels",
    "contour_grid",
    "metric_histograms",
    "diagnosis_histograms",
    "confusion_heatmap",
    "training_curves",
    "quality_calibration",
    "cv_folds",
    "mask_rgb",
]



def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 10, "figure.dpi": 100})
    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight", facecolor="white")
    _plt().close(fig)
    return path


def _load_case(run_dir: Path, case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = Path(run_dir) / "cases"
    f = case["files"]
    return read_image(d / f["image"]), read_mask(d / f["truth"]), read_mask(d / f["pred"])


def _contours(ax: Any, mask: np.ndarray, colour: tuple[float, float, float], lw: float = 1.6) -> None:
    from matplotlib import patheffects

    rim = [patheffects.Stroke(linewidth=lw + 1.6, foreground=EDGE_COLOUR), patheffects.Normal()]
    for c in contours(mask):
        ax.plot(c[:, 0], c[:, 1], color=colour, linewidth=lw, path_effects=rim)


def mask_rgb(mask: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """A bool H×W mask as float RGB H×W×3: lesion pixels in ``colour``, background black."""
    out = np.zeros((*mask.shape, 3), np.float32)
    out[np.asarray(mask, dtype=bool)] = colour
    return out


def _draw_prompt(ax: Any, case: dict[str, Any]) -> None:
    p = case.get("prompt") or {}
    s = float(case.get("display_scale", 1.0))
    box = p.get("box")
    if box is not None:
        from matplotlib.patches import Rectangle

        x0, y0, x1, y1 = (float(v) * s for v in box)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=PROMPT_COLOUR,
                               linewidth=1.5, linestyle="--"))
    for i, (x, y) in enumerate(p.get("points") or []):
        labels = p.get("point_labels") or [1] * len(p["points"])
        ax.plot(float(x) * s, float(y) * s, marker="*", markersize=12, markeredgecolor="black",
                color=PROMPT_COLOUR if int(labels[i]) == 1 else "magenta")


def _case_title(case: dict[str, Any]) -> str:
    lab = f" ({case['label']})" if case.get("label") else ""
    return f"{case['role']}: {case['id']}{lab}\nDice {float(case['dice']):.3f}  IoU {float(case['iou']):.3f}"


def case_panels(run_dir: Path, cases: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """melSeg Fig. 6: one row per case (best, median, worst by Dice); columns input (prompt drawn) |
    truth (green) | prediction (yellow) | overlay (truth-only green, prediction-only yellow, overlap
    yellow-green; both outlined)."""
    main = [c for c in cases if c["role"] in ("best", "median", "worst")]
    if not main:
        return None
    plt = _plt()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(len(main), 4, figsize=(13, 3.0 * len(main)), squeeze=False)
    for r, case in enumerate(main):
        rgb, truth, pred = _load_case(run_dir, case)
        panels = [(rgb, "input" + (" + prompt" if case.get("prompt", {}).get("box") or
                                   case.get("prompt", {}).get("points") else "")),
                  (mask_rgb(truth, TRUTH_COLOUR), "ground truth"), (mask_rgb(pred, PRED_COLOUR), "prediction"),
                  (tint(rgb, truth, pred), "overlay")]
        for c, (img, title) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, origin="upper", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title)
        _draw_prompt(axes[r, 0], case)
        _contours(axes[r, 3], truth, TRUTH_COLOUR, 1.2)
        _contours(axes[r, 3], pred, PRED_COLOUR, 1.2)
        axes[r, 0].set_ylabel(_case_title(case), fontsize=9)
    handles = [Patch(color=TRUTH_COLOUR, label="ground truth (tint: truth only, missed)"),
               Patch(color=PRED_COLOUR, label="prediction (tint: prediction only, false positive)"),
               Patch(color=BOTH, alpha=0.6, label="both")]
    prompts = [c.get("prompt") or {} for c in main]
    if any(p.get("box") is not None for p in prompts):
        handles.append(Line2D([], [], color=PROMPT_COLOUR, linestyle="--", label="prompt box"))
    if any(p.get("points") for p in prompts):
        handles.append(Line2D([], [], color=PROMPT_COLOUR, marker="*", markeredgecolor="black", linestyle="",
                              markersize=10, label="prompt point"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, -0.02),
               fontsize=9)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, path)


def contour_grid(run_dir: Path, cases: Sequence[dict[str, Any]], path: Path, ncols: int = 4) -> Path | None:
    """SkinSAM Fig. 3's layout: each example image with its truth contour (green) and prediction contour
    (yellow) — dermaseg's colours, not SkinSAM's red/green."""
    seen: dict[str, dict[str, Any]] = {}
    for c in cases:
        seen.setdefault(c["id"], c)
    uniq = list(seen.values())
    if not uniq:
        return None
    plt = _plt()
    from matplotlib.lines import Line2D

    ncols = min(ncols, len(uniq))
    nrows = -(-len(uniq) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.5 * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, case in zip(axes.ravel(), uniq, strict=False):
        rgb, truth, pred = _load_case(run_dir, case)
        ax.imshow(rgb, origin="upper")
        _contours(ax, truth, TRUTH_COLOUR, 1.8)
        _contours(ax, pred, PRED_COLOUR, 1.8)
        roles = ", ".join(c["role"] for c in cases if c["id"] == case["id"])
        lab = f" ({case['label']})" if case.get("label") else ""
        ax.set_title(f"{case['id']}{lab}\n{roles}: Dice {float(case['dice']):.3f}", fontsize=9)
    fig.legend(handles=[Line2D([], [], color=TRUTH_COLOUR, lw=2.5, label="ground truth"),
                        Line2D([], [], color=PRED_COLOUR, lw=2.5, label="prediction")],
               loc="lower center", ncol=2, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(fig, path)


def _hist(ax: Any, values: np.ndarray, name: str, colour: str, threshold: float | None = None) -> None:
    bins = np.linspace(0, 1, 21)
    ax.hist(np.clip(values, 0, 1), bins=bins, color=colour, edgecolor="white")
    if values.size:
        ax.axvline(values.mean(), color="black", linestyle="--", linewidth=1.2,
                   label=f"mean {values.mean():.3f}")
    if threshold is not None:
        ax.axvline(threshold, color="red", linestyle=":", linewidth=1.4,
                   label=f"ISIC threshold {threshold:g} ({int((values < threshold).sum())} below)")
    if values.size:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    ax.set_xlim(0, 1)
    ax.set_xlabel(name)
    ax.set_ylabel("images")


def _column(rows: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    out = []
    for r in rows:
        try:
            v = float(r.get(key, "nan"))
        except (TypeError, ValueError):
            continue
        if np.isfinite(v):
            out.append(v)
    return np.asarray(out, dtype=float)


#: (key, title, colour) of the histograms: the metric table's rows with a figure (evaluation/metrics.py)
HIST_METRICS: tuple[tuple[str, str, str], ...] = tuple((m.key, m.figure, m.colour or "") for m in METRICS if m.figure)
#: the IoU histogram marks the ISIC failure cut
THRESHOLDS = {"iou": FAILURE_JACCARD}


def metric_histograms(rows: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """SkinSAM Fig. 4: histograms (20 bins over [0, 1]) of per-image Dice, IoU and accuracy."""
    if not rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for ax, (key, name, colour) in zip(axes, HIST_METRICS, strict=True):
        _hist(ax, _column(rows, key), name, colour, THRESHOLDS.get(key))
        ax.set_title(f"per-image {name} (n={len(rows)})")
    fig.tight_layout()
    return _save(fig, path)


def diagnosis_histograms(rows: Sequence[dict[str, Any]], path: Path, max_groups: int = 8) -> Path | None:
    """SkinSAM Fig. 5: one row per diagnosis, histograms of its images' Dice, IoU and accuracy.
    ``None`` when no image has a diagnosis label."""
    labels = sorted({str(r.get("label") or "") for r in rows} - {""})
    if not labels:
        return None
    labels = labels[:max_groups]
    plt = _plt()
    fig, axes = plt.subplots(len(labels), 3, figsize=(13, 2.6 * len(labels)), squeeze=False)
    for i, lab in enumerate(labels):
        sub = [r for r in rows if str(r.get("label") or "") == lab]
        for j, (key, name, colour) in enumerate(HIST_METRICS):
            ax = axes[i, j]
            _hist(ax, _column(sub, key), name, colour, THRESHOLDS.get(key))
            ax.set_title(f"{lab} (n={len(sub)}): {name}")
    fig.tight_layout()
    return _save(fig, path)


def confusion_heatmap(pooled: dict[str, Any], path: Path) -> Path | None:
    """U-Net paper style pixel confusion matrix: pooled counts, rows = truth (lesion, background),
    columns = prediction, colour = fraction of the row; each cell shows the fraction and the count."""
    if not pooled or not all(k in pooled for k in ("tp", "fp", "fn", "tn")):
        return None
    plt = _plt()
    counts = np.array([[pooled["tp"], pooled["fn"]], [pooled["fp"], pooled["tn"]]], dtype=float)
    frac = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.3))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1, origin="upper")
    names = ("lesion", "background")
    tags = (("TP", "FN"), ("FP", "TN"))
    for i in range(2):
        for j in range(2):
            ax.text(j, i, f"{tags[i][j]}\n{frac[i, j]:.1%}\n{int(counts[i, j]):,} px", ha="center",
                    va="center", fontsize=11, color="white" if frac[i, j] > 0.55 else "black")
    ax.set_xticks([0, 1], [f"predicted {n}" for n in names])
    ax.set_yticks([0, 1], [f"true {n}" for n in names])
    ax.set_title("pixel confusion matrix (pooled, normalised by row)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true pixels")
    fig.tight_layout()
    return _save(fig, path)


def training_curves(history: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Loss (train, validation) and validation Dice / IoU per epoch from history.csv rows."""
    if not history:
        return None
    epochs = _column(history, "epoch")
    if epochs.size != len(history):
        epochs = np.arange(1, len(history) + 1, dtype=float)
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.8))
    drawn = False
    for key, name in (("train_loss", "training loss"), ("val_loss", "validation loss")):
        v = np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in history])
        if np.isfinite(v).any():
            a1.plot(epochs, v, marker="o", markersize=3, label=name)
            drawn = True
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.set_title("loss")
    for key, name in (("val_dice", "validation Dice"), ("val_iou", "validation IoU")):
        v = np.array([float(r[key]) if r.get(key) not in (None, "") else np.nan for r in history])
        if np.isfinite(v).any():
            a2.plot(epochs, v, marker="o", markersize=3, label=name)
            drawn = True
    a2.set_xlabel("epoch")
    a2.set_ylabel("score")
    a2.set_title("validation Dice / IoU (at the model's input size)")
    from matplotlib.ticker import MaxNLocator

    for a in (a1, a2):
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
        if epochs.size == 1:  # one epoch: one tick, not fractions around it
            a.set_xticks(epochs)
        a.grid(alpha=0.3)
        if a.get_legend_handles_labels()[0]:
            a.legend(frameon=False)
    fig.tight_layout()
    if not drawn:
        plt.close(fig)
        return None
    return _save(fig, path)


def quality_calibration(rows: Sequence[dict[str, Any]], quality: dict[str, Any] | None, path: Path,
                        failure: float = FAILURE_JACCARD) -> Path | None:
    """Predicted quality (estimated Jaccard) against the true per-image IoU: one dot per image, the identity
    line, and the failure threshold on both axes (lower-left: failures that were flagged; lower-right:
    failures the estimate missed). ``quality`` is metrics.json's ``predicted_quality`` block (for the
    title). ``None`` when no row has a predicted quality."""
    pairs = []
    for r in rows:
        try:
            pairs.append((float(r["predicted_quality"]), float(r["iou"])))
        except (KeyError, TypeError, ValueError):
            continue
    if not pairs:
        return None
    q, j = np.array(pairs).T
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 5.0))
    fail = j < failure
    ax.scatter(j[~fail], q[~fail], s=14, color="tab:blue", alpha=0.7, label=f"IoU >= {failure:g}")
    ax.scatter(j[fail], q[fail], s=18, color="tab:red", alpha=0.8, label=f"IoU < {failure:g} (failure)")
    ax.plot([0, 1], [0, 1], color="black", lw=1, ls="--", label="perfect calibration")
    ax.axhline(failure, color="grey", lw=1, ls=":")
    ax.axvline(failure, color="grey", lw=1, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("true IoU (Jaccard) against the ground truth")
    ax.set_ylabel("predicted quality (estimated IoU)")
    title = f"predicted vs true quality (n={len(pairs)})"
    if quality:
        rho, auc = quality.get("spearman"), quality.get("auroc_failure")
        if rho is not None and auc is not None:
            title += f"\nSpearman {rho:.2f}, AUROC for IoU < {failure:g}: {auc:.2f}"
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    return _save(fig, path)


def cv_folds(table: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """Cross-validation: each fold's per-image mean Dice and IoU (cv_table.csv rows) as bars, with the mean
    over folds (line) and ± one population std over folds (band). ``None`` without a fold."""
    folds = [r for r in table if r.get("dice") not in (None, "")]
    if not folds:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(folds) + 4.5), 3.8))
    x = np.arange(len(folds))
    for k, (key, name, colour) in enumerate((("dice", "Dice", "tab:blue"), ("iou", "IoU", "tab:orange"))):
        v = _column(folds, key)
        if v.size != len(folds):
            continue
        ax.bar(x + (k - 0.5) * 0.38, v, width=0.36, color=colour, label=f"{name} per fold")
        mean, std = float(v.mean()), float(v.std())
        ax.axhline(mean, color=colour, linestyle="--", linewidth=1.2, label=f"{name} mean {mean:.3f} ± {std:.3f}")
        ax.axhspan(mean - std, mean + std, color=colour, alpha=0.12)
    ax.set_xticks(x, [f"fold {r.get('fold', i)}" for i, r in enumerate(folds)])
    ax.set_ylim(0, 1)
    ax.set_ylabel("per-image mean on the fold's validation images")
    ax.set_title(f"{len(folds)} folds: mean ± std over folds (band: ± 1 std, ddof=0)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)
