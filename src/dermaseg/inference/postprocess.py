"""Mask post-processing of the Predictor.

``clean_mask`` keeps one 8-connected component and fills its holes, as the top ISIC 2018 entries did: a
dermoscopic image shows one lesion, and lesions have no holes. Which component: the largest by area
(``rule="area"``), or the one holding the most probability mass Σp (``rule="mass"``, needs the map), so a
large but hesitant blob (a shadow, a vignetted corner) loses to a smaller confident lesion. It changes only
the binary mask; the probability map is the network's, untouched.
"""

from __future__ import annotations

import numpy as np

from dermaseg.errors import DermasegError

__all__ = ["RULES", "DEFAULT_RULE", "DEFAULT_THRESHOLD", "FAILURE_JACCARD", "check_rule", "largest_component", "fill_holes",
           "clean_mask"]

#: component-selection rules of :func:`clean_mask`
RULES = ("area", "mass")
#: the rule a model without a ``postprocess_rule`` in its config gets (the largest component)
DEFAULT_RULE = "area"
#: probability above which a pixel is lesion, for a model whose config names no ``threshold``
DEFAULT_THRESHOLD = 0.5
#: the ISIC challenge's failure cut: a mask whose Jaccard index (true, or predicted by the quality model) is
#: below it is a failed segmentation (thresholded Jaccard scores it 0; the Predictor flags a predicted one)
FAILURE_JACCARD = 0.65


def check_rule(rule: str) -> str:
    """``rule`` when it is one of :data:`RULES`, else a :class:`DermasegError` naming them."""
    if rule not in RULES:
        raise DermasegError(f"unknown post-processing rule '{rule}'; choose one of {', '.join(RULES)}")
    return rule


def largest_component(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """The largest 8-connected component of a bool H×W mask (an empty mask stays empty); with ``weights``
    (H×W, e.g. the probability map) the component with the largest sum of weights. Ties: the first."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return m.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 2:
        return m.copy()
    if weights is None:
        best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    else:
        sums = np.bincount(labels.ravel(), weights=np.asarray(weights, np.float64).ravel(), minlength=n)
        best = 1 + int(np.argmax(sums[1:]))
    return labels == best


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not 4-connected to the image border (holes) in a bool H×W mask."""
    from scipy.ndimage import binary_fill_holes

    m = np.asarray(mask, dtype=bool)
    return binary_fill_holes(m) if m.any() else m.copy()


def clean_mask(mask: np.ndarray, prob: np.ndarray | None = None, rule: str = DEFAULT_RULE) -> np.ndarray:
    """One component (``rule`` "area": the largest; "mass": the largest Σ ``prob``), then hole filling:
    bool H×W -> bool H×W."""
    check_rule(rule)
    if rule == "mass" and prob is None:
        raise ValueError("clean_mask(rule='mass') needs the probability map")
    return fill_holes(largest_component(mask, prob if rule == "mass" else None))

