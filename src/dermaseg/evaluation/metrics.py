"""Segmentation metrics in two layers: per-image confusion counts first, then scores from counts.

Layer 1: :func:`confusion_counts` turns a predicted and a true H×W mask into :class:`Counts`
(tp, fp, fn, tn: pixel counts, lesion = positive).

Layer 2: :func:`scores_from_counts` turns counts into

- accuracy    = (tp + tn) / (tp + fp + fn + tn)
- precision   = tp / (tp + fp)
- recall      = tp / (tp + fn)          (sensitivity)
- specificity = tn / (tn + fp)
- dice        = 2 tp / (2 tp + fp + fn)  (F1, Dice similarity coefficient)
- iou         = tp / (tp + fp + fn)      (Jaccard index)

:func:`image_metrics` adds the ISIC 2018 *thresholded Jaccard* (the image's IoU, or 0 when it is
below 0.65) and ``hd95``, the symmetric 95th-percentile Hausdorff distance between the mask
boundaries, in pixels of the image scored (see :func:`hd95`).

Empty masks (documented values, tested):

- A ratio whose denominator is 0 scores **1.0 when prediction and truth agree on every pixel and 0.0
  otherwise.** So both masks empty -> dice = iou = precision = recall = 1; an empty truth with a
  non-empty prediction, or a non-empty truth with an empty prediction -> dice = iou = precision =
  recall = 0. The same rule gives specificity when both masks cover the whole image.
  This matches MONAI ``DiceMetric(ignore_empty=False)`` for Dice and IoU.
- HD95: both boundaries empty -> 0.0; exactly one mask empty -> the image diagonal
  ``sqrt(H² + W²)`` (the largest distance possible inside the image, so means stay finite and a
  missed lesion is penalised, not dropped).

Aggregation:

- :func:`summarize` reports the **per-image mean** (the ISIC convention: score each image, then
  average; with the population standard deviation, ddof=0) and the **pooled** scores (sum the counts
  over the dataset, then score once). Both are labelled in the output and must never be confused.
- :func:`by_group` gives per-group (e.g. diagnosis) mean, std (ddof=0) and n — SkinSAM's Table 1 layout,
  with the std where SkinSAM prints a variance, so that every spread dermaseg reports is a std.

:func:`quality_summary` says how well the predicted quality (``Prediction.quality``, an estimate of each
image's Jaccard) ranks the images: Spearman correlation with the true IoU, and the AUROC of low predicted
quality for detecting a failed segmentation (IoU below the ISIC threshold 0.65).

:func:`batch_dice_iou` is the torch helper the trainer uses on B×H×W (or B×1×H×W) bool tensors,
with the same empty-mask rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from dermaseg.inference.postprocess import FAILURE_JACCARD
from dermaseg.inference.quality import auroc, spearman

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "Counts",
    "COUNT_METRICS",
    "IMAGE_METRICS",
    "Metric",
    "METRICS",
    "METRIC_KEYS",
    "THRESHOLD_JACCARD",
    "confusion_counts",
    "scores_from_counts",
    "thresholded_jaccard",
    "hd95",
    "image_metrics",
    "summarize",
    "by_group",
    "batch_dice_iou",
]

#: Scores computed from confusion counts (available both per image and pooled).
COUNT_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "specificity", "dice", "iou")
#: Every per-image score :func:`image_metrics` returns (hd95 only when asked for).
IMAGE_METRICS: tuple[str, ...] = COUNT_METRICS + ("thresholded_jaccard", "hd95")
#: ISIC 2018 Task 1: a per-image Jaccard below this counts as 0 (the failure cut, defined beside the
#: post-processing: :data:`dermaseg.inference.postprocess.FAILURE_JACCARD`).
THRESHOLD_JACCARD = FAILURE_JACCARD


@dataclass(frozen=True)
class Metric:
    """One per-image score as every output names it: ``key`` (the metrics.json / per_image.csv / cv_table.csv
    name), ``label`` (the report's summary tables), ``short`` (the per-diagnosis table's column head or
    ``None``: not in that table), ``figure`` (the histogram title or ``None``: no histogram) and its
    matplotlib ``colour``, ``digits`` shown in the per-diagnosis table."""

    key: str
    label: str
    short: str | None = None
    figure: str | None = None
    colour: str | None = None
    digits: int = 4

    @property
    def pooled(self) -> bool:
        """Whether it also has a pooled value (a ratio of confusion counts summed over the images)."""
        return self.key in COUNT_METRICS


#: THE metric table: every per-image score in the order per_image.csv, cv_table.csv, the report's tables and
#: figures list them (metrics.json's dicts keep :data:`IMAGE_METRICS`' computation order). Adding a metric:
#: compute it in :func:`image_metrics` (and :data:`IMAGE_METRICS`), then add its row here.
METRICS: tuple[Metric, ...] = (
    Metric("dice", "Dice", "Dice", "Dice", "tab:blue"),
    Metric("iou", "IoU (Jaccard)", "IoU", "IoU (Jaccard)", "tab:orange"),
    Metric("thresholded_jaccard", f"thresholded Jaccard (IoU<{FAILURE_JACCARD:g} → 0)", "thr. Jaccard"),
    Metric("accuracy", "accuracy", "accuracy", "pixel accuracy", "tab:green"),
    Metric("precision", "precision", "precision"),
    Metric("recall", "recall (sensitivity)", "recall"),
    Metric("specificity", "specificity"),
    Metric("hd95", "HD95 (pixels)", "HD95 px", digits=2),
)
#: the keys of :data:`METRICS`, in its order
METRIC_KEYS: tuple[str, ...] = tuple(m.key for m in METRICS)
if set(METRIC_KEYS) != set(IMAGE_METRICS):  # pragma: no cover - a metric added to one list and not the other
    raise AssertionError("evaluation/metrics.py: METRICS and IMAGE_METRICS name different scores")


@dataclass(frozen=True)
class Counts:
    """Pixel confusion counts of one image (or summed over many): lesion is the positive class."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def as_dict(self) -> dict[str, int]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn}


def _as_bool_pair(pred: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred)
    t = np.asarray(truth)
    if p.ndim == 3 and p.shape[0] == 1:
        p = p[0]
    if t.ndim == 3 and t.shape[0] == 1:
        t = t[0]
    if p.shape != t.shape or p.ndim != 2:
        raise ValueError(f"prediction {p.shape} and truth {t.shape} must be H×W masks of the same size")
    return p.astype(bool, copy=False), t.astype(bool, copy=False)


def confusion_counts(pred: Any, truth: Any) -> Counts:
    """Pixel counts of an H×W predicted mask against the H×W true mask (any dtype; nonzero = lesion)."""
    p, t = _as_bool_pair(pred, truth)
    tp = int(np.count_nonzero(p & t))
    n_p = int(np.count_nonzero(p))
    n_t = int(np.count_nonzero(t))
    fp = n_p - tp
    fn = n_t - tp
    tn = int(p.size) - tp - fp - fn
    return Counts(tp, fp, fn, tn)


def _ratio(num: float, den: float, agree: bool) -> float:
    if den == 0:
        return 1.0 if agree else 0.0
    return float(num) / float(den)


def scores_from_counts(c: Counts) -> dict[str, float]:
    """Accuracy, precision, recall, specificity, dice, iou from counts (empty-mask rule: module doc)."""
    if c.total <= 0:
        raise ValueError("cannot score an image with no pixels")
    agree = c.fp == 0 and c.fn == 0
    return {
        "accuracy": (c.tp + c.tn) / c.total,
        "precision": _ratio(c.tp, c.tp + c.fp, agree),
        "recall": _ratio(c.tp, c.tp + c.fn, agree),
        "specificity": _ratio(c.tn, c.tn + c.fp, agree),
        "dice": _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, agree),
        "iou": _ratio(c.tp, c.tp + c.fp + c.fn, agree),
    }


def thresholded_jaccard(iou: float, threshold: float = THRESHOLD_JACCARD) -> float:
    """ISIC 2018 score of one image: its IoU when ``iou >= threshold``, else 0."""
    return float(iou) if iou >= threshold else 0.0


def _boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it (the image border counts as outside)."""
    from scipy.ndimage import binary_erosion

    return mask & ~binary_erosion(mask, border_value=0)


def _directed_distances(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Euclidean distance from each ``src`` boundary pixel to the nearest ``dst`` boundary pixel."""
    from scipy.ndimage import distance_transform_edt

    # crop to the bounding box of both boundaries: every dst pixel and every query lies inside,
    # so the distance transform on the crop is exact and much cheaper than on the whole image
    both = src | dst
    rows = np.flatnonzero(both.any(axis=1))
    cols = np.flatnonzero(both.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    dist = distance_transform_edt(~dst[r0:r1, c0:c1])
    return dist[src[r0:r1, c0:c1]]


def hd95(pred: Any, truth: Any) -> float:
    """Symmetric 95th-percentile Hausdorff distance between the mask boundaries, in pixels.

    Boundary = mask pixels with a 4-connected neighbour outside the mask (or on the image border).
    HD95 = max(P95 of distances pred-boundary -> truth-boundary, P95 of truth -> pred), with numpy's
    linear percentile (the definition of MONAI ``compute_hausdorff_distance(percentile=95)``).
    Both masks empty -> 0.0; exactly one empty -> the image diagonal ``sqrt(H² + W²)``.
    """
    p, t = _as_bool_pair(pred, truth)
    has_p, has_t = bool(p.any()), bool(t.any())
    if not has_p and not has_t:
        return 0.0
    if has_p != has_t:
        return float(math.hypot(*p.shape))
    bp, bt = _boundary(p), _boundary(t)
    d_pt = _directed_distances(bp, bt)
    d_tp = _directed_distances(bt, bp)
    return float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))


def image_metrics(pred: Any, truth: Any, hd95: bool = True) -> dict[str, float | int]:
    """Every per-image score of an H×W prediction against the H×W truth.

    Returns ``tp, fp, fn, tn`` (ints), the :data:`COUNT_METRICS`, ``thresholded_jaccard`` and, when
    ``hd95`` is true, ``hd95`` (pixels).
    """
    c = confusion_counts(pred, truth)
    out: dict[str, float | int] = dict(c.as_dict())
    s = scores_from_counts(c)
    out.update(s)
    out["thresholded_jaccard"] = thresholded_jaccard(s["iou"])
    if hd95:
        out["hd95"] = _hd95(pred, truth)
    return out


_hd95 = hd95  # image_metrics' keyword shadows the function name


def _finite(values: Iterable[Any]) -> np.ndarray:
    a = np.asarray([float(v) for v in values if v is not None and v != ""], dtype=np.float64)
    return a[np.isfinite(a)]


def summarize(rows: Sequence[Mapping[str, Any]],
              metrics: Sequence[str] = IMAGE_METRICS) -> dict[str, Any]:
    """Aggregate per-image rows (each as returned by :func:`image_metrics`) two ways, labelled.

    Returns ``{"n": N, "per_image_mean": {metric: {"mean", "std", "n"}},
    "pooled": {metric: value, "tp", "fp", "fn", "tn"}}``. Per-image mean: each image scored, then
    averaged (ISIC convention), population std (ddof=0); metrics absent from the rows or non-finite
    values are skipped (``n`` says how many images count). Pooled: counts summed over all images,
    then :func:`scores_from_counts` once (only the count-based metrics exist pooled).
    """
    per_image: dict[str, dict[str, float]] = {}
    for m in metrics:
        vals = _finite(r.get(m) for r in rows)
        if vals.size == 0:
            continue
        per_image[m] = {"mean": float(vals.mean()), "std": float(vals.std()), "n": int(vals.size)}
    pooled: dict[str, Any] = {}
    if rows and all(k in rows[0] for k in ("tp", "fp", "fn", "tn")):
        total = Counts(0, 0, 0, 0)
        for r in rows:
            total = total + Counts(int(r["tp"]), int(r["fp"]), int(r["fn"]), int(r["tn"]))
        if total.total > 0:
            pooled.update(scores_from_counts(total))
            pooled.update(total.as_dict())
    return {"n": len(rows), "per_image_mean": per_image, "pooled": pooled}


def by_group(rows: Sequence[Mapping[str, Any]], key: str = "label",
             metrics: Sequence[str] = IMAGE_METRICS, missing: str = "unlabelled") -> dict[str, Any]:
    """Per-group statistics (SkinSAM Table 1's layout): ``{group: {"n": n, metric: {"mean", "std", "n"}}}``.

    Groups are the values of ``row[key]``; rows without one go to ``missing``. The std is the population
    std (ddof=0) over the group's images, as :func:`summarize`'s. Groups are sorted by name.
    """
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        g = r.get(key)
        g = missing if g is None or (isinstance(g, float) and math.isnan(g)) or g == "" else str(g)
        groups.setdefault(g, []).append(r)
    out: dict[str, Any] = {}
    for g in sorted(groups):
        members = groups[g]
        entry: dict[str, Any] = {"n": len(members)}
        for m in metrics:
            vals = _finite(r.get(m) for r in members)
            if vals.size == 0:
                continue
            entry[m] = {"mean": float(vals.mean()), "std": float(vals.std()), "n": int(vals.size)}
        out[g] = entry
    return out


def batch_dice_iou(pred: torch.Tensor, truth: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image Dice and IoU of a batch, for training loops (no gradient).

    ``pred`` and ``truth``: B×H×W or B×1×H×W tensors (bool, or numbers where nonzero = lesion).
    Returns two float32 tensors of shape B on ``pred``'s device. Both masks empty -> 1.0; one empty
    -> 0.0 (the module's empty-mask rule).
    """
    import torch

    if pred.shape != truth.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and truth {tuple(truth.shape)} differ in shape")
    if pred.ndim == 4:
        if pred.shape[1] != 1:
            raise ValueError(f"expected B×1×H×W, got {tuple(pred.shape)}")
        pred, truth = pred[:, 0], truth[:, 0]
    if pred.ndim != 3:
        raise ValueError(f"expected B×H×W or B×1×H×W, got {tuple(pred.shape)}")
    with torch.no_grad():
        p = pred.bool().flatten(1)
        t = truth.to(p.device).bool().flatten(1)
        tp = (p & t).sum(1).to(torch.float64)
        fp = (p & ~t).sum(1).to(torch.float64)
        fn = (~p & t).sum(1).to(torch.float64)
        agree = (fp == 0) & (fn == 0)
        one = torch.ones_like(tp)
        zero = torch.zeros_like(tp)
        dden = 2 * tp + fp + fn
        iden = tp + fp + fn
        dice = torch.where(dden > 0, 2 * tp / dden.clamp(min=1), torch.where(agree, one, zero))
        iou = torch.where(iden > 0, tp / iden.clamp(min=1), torch.where(agree, one, zero))
    return dice.float(), iou.float()


def quality_summary(rows: Sequence[dict[str, Any]], failure: float = FAILURE_JACCARD) -> dict[str, Any] | None:
    """How well ``predicted_quality`` matches the true ``iou`` over ``rows`` (None when no row has one).

    Returns n, the Spearman correlation, the AUROC of ``-predicted_quality`` for detecting IoU < ``failure``
    (0.5 = chance, 1 = every failure ranked below every success), the mean absolute error, and the counts of
    true failures, images flagged as predicted failures, and flagged images that truly failed.
    """
    pairs = [(float(r["predicted_quality"]), float(r["iou"])) for r in rows
             if r.get("predicted_quality") not in (None, "")]
    if not pairs:
        return None
    q = np.array([p[0] for p in pairs])
    j = np.array([p[1] for p in pairs])
    fail = j < failure
    flagged = q < failure
    return {"n": len(pairs), "spearman": spearman(q, j) if len(pairs) > 2 else None,
            "auroc_failure": auroc(-q, fail), "failure_iou": failure,
            "mean_absolute_error": float(np.abs(q - j).mean()), "true_failures": int(fail.sum()),
            "flagged": int(flagged.sum()), "flagged_and_failed": int((flagged & fail).sum()),
            "note": "predicted_quality estimates each image's IoU (Jaccard); AUROC of low predicted quality "
                    "for detecting IoU < failure_iou"}
