"""Predicted quality of an automatic mask: an estimate of its Jaccard index against the (unknown) truth.

A CNN's probability map says more than its thresholded mask: where the network hesitated, how much of its
belief was thrown away by post-processing, whether the lesion runs off the frame. :func:`quality_features`
reduces a probability map and the final mask to a few such numbers, and :class:`QualityModel` maps them to
an estimated Jaccard with a linear model fitted on *out-of-fold* predictions of cross-validation models
(each image predicted by the fold model that never saw it), so the estimate is calibrated on errors the
model really makes on unseen images. ``scripts/calibrate_default.py`` fits it; the bundled model's
``config.json`` stores it (``"quality"``), and the Predictor writes the estimate as ``Prediction.quality``.

Features (``p`` the probability map, ``m`` the final bool mask, ``N`` the number of pixels), computed at the
CNN's own input size (the map is resampled there first: area-averaging when shrinking, bilinear when
enlarging; the mask by the same rule, then >= 0.5), where the network made the map, so an estimate does
not depend on the image's resolution and costs the same for a 4000×3000 photograph:

===================  ==========================================================================================
``soft_dice``        2 Σ p·m / (Σ p + Σ m): agreement of the map with its own mask (1 when both are empty)
``uncertain``        #{0.1 < p < 0.9} / max(#m, 1), capped at 2: hesitant pixels per mask pixel
``inside``           mean p inside m (0 for an empty mask): confidence in the lesion
``ring``             mean p on a ring 1..4 % of the image diagonal outside m: belief left just outside the edge
``area``             #m / N
``border``           share of the image's outermost pixels that m covers: a lesion cut by the frame
``discarded``        Σ p·(1 - m) over Σ p: probability mass that post-processing or the threshold dropped
``empty``            1 when m is empty, else 0
===================  ==========================================================================================

The estimate is ``clip(b + Σ w_i (f_i - μ_i) / σ_i, 0, 1)`` (ridge regression on standardised features).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermaseg.errors import WeightsError

__all__ = ["FEATURES", "quality_features", "QualityModel", "fit_quality", "spearman",
           "auroc"]

FEATURES = ("soft_dice", "uncertain", "inside", "ring", "area", "border", "discarded", "empty")


def _resample(prob: np.ndarray, mask: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if size is None or tuple(prob.shape) == tuple(size):
        return prob, mask
    import cv2

    h, w = int(size[0]), int(size[1])
    interp = cv2.INTER_AREA if prob.shape[0] >= h and prob.shape[1] >= w else cv2.INTER_LINEAR
    p = cv2.resize(prob.astype(np.float32), (w, h), interpolation=interp)
    m = cv2.resize(mask.astype(np.float32), (w, h), interpolation=interp) >= 0.5
    return p, m


def quality_features(prob: np.ndarray, mask: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """Features (:data:`FEATURES`, float64 vector) of a probability map H×W in [0, 1] and its bool mask,
    computed after resampling both to ``size`` (h, w) when given (the CNN's input size)."""
    import cv2

    p, m = _resample(np.asarray(prob, dtype=np.float32), np.asarray(mask, dtype=bool), size)
    n = p.size
    area = int(m.sum())
    sp, sm = float(p.sum()), float(area)
    inter = float(p[m].sum())
    soft_dice = 1.0 if sp + sm == 0 else 2.0 * inter / (sp + sm)
    uncertain = min(2.0, float(((p > 0.1) & (p < 0.9)).sum()) / max(area, 1))
    inside = float(p[m].mean()) if area else 0.0
    h, w = p.shape
    diag = math.hypot(h, w)
    if area:
        mu8 = m.astype(np.uint8)
        k_in = max(1, int(round(0.01 * diag)))
        k_out = max(k_in + 1, int(round(0.04 * diag)))
        near = cv2.dilate(mu8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k_in + 1, 2 * k_in + 1))) > 0
        far = cv2.dilate(mu8, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k_out + 1, 2 * k_out + 1))) > 0
        ring_px = far & ~near
        ring = float(p[ring_px].mean()) if ring_px.any() else 0.0
    else:
        ring = 0.0
    edge = np.concatenate([m[0, :], m[-1, :], m[1:-1, 0], m[1:-1, -1]]) if h > 1 and w > 1 else m.ravel()
    border = float(edge.mean()) if edge.size else 0.0
    discarded = 0.0 if sp == 0 else float(p[~m].sum()) / sp
    return np.array([soft_dice, uncertain, inside, ring, area / n, border, discarded, float(area == 0)],
                    dtype=np.float64)


@dataclass(frozen=True)
class QualityModel:
    """Linear estimate of Jaccard from :func:`quality_features` (module docstring for the formula)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    features: tuple[str, ...] = FEATURES
    #: (h, w) the features are computed at (the CNN's input size); None = the map's own size
    size: tuple[int, int] | None = None

    def predict(self, features: np.ndarray) -> np.ndarray | float:
        """Estimated Jaccard in [0, 1] for one feature vector (float) or a batch N×F (array)."""
        f = np.asarray(features, dtype=np.float64)
        z = (f - np.asarray(self.mean)) / np.asarray(self.std)
        q = np.clip(self.bias + z @ np.asarray(self.weights), 0.0, 1.0)
        return float(q) if q.ndim == 0 else q

    def __call__(self, prob: np.ndarray, mask: np.ndarray) -> float:
        return float(self.predict(quality_features(prob, mask, self.size)))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "mean": list(self.mean), "std": list(self.std),
                "weights": list(self.weights), "bias": self.bias,
                "size": list(self.size) if self.size else None,
                "formula": "clip(bias + sum(weights * (features - mean) / std), 0, 1)"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QualityModel:
        feats = tuple(d.get("features", FEATURES))
        if feats != FEATURES:
            raise WeightsError(f"quality model uses features {feats}, this dermaseg computes {FEATURES}")
        return cls(mean=tuple(map(float, d["mean"])), std=tuple(map(float, d["std"])),
                   weights=tuple(map(float, d["weights"])), bias=float(d["bias"]), features=feats,
                   size=tuple(int(v) for v in d["size"]) if d.get("size") else None)


def fit_quality(features: np.ndarray, jaccard: Sequence[float], ridge: float = 1.0,
                size: tuple[int, int] | None = None) -> QualityModel:
    """Ridge regression of per-image Jaccard on standardised features (N×F) -> :class:`QualityModel`
    (``size``: the resolution the features were computed at, kept with the model)."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(jaccard, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = (x - mean) / std
    bias = float(y.mean())
    a = z.T @ z + ridge * np.eye(z.shape[1])
    w = np.linalg.solve(a, z.T @ (y - bias))
    return QualityModel(tuple(mean.tolist()), tuple(std.tolist()), tuple(w.tolist()), bias,
                        size=tuple(size) if size else None)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    return float(spearmanr(np.asarray(a, float), np.asarray(b, float)).statistic)


def auroc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Area under the ROC curve of ``scores`` for detecting ``positive`` (Mann–Whitney U / (n+ n-));
    NaN when one class is absent."""
    from scipy.stats import rankdata

    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    npos, nneg = int(y.sum()), int((~y).sum())
    if npos == 0 or nneg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - npos * (npos + 1) / 2) / (npos * nneg))
