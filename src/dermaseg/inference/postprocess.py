"""Mask post-processing of the Predictor.

``clean_mask`` keeps the largest 8-connected component and fills its holes, as the top ISIC 2018
entries did: a dermoscopic image shows one lesion, and lesions have no holes. It changes only the
binary mask; the probability map is the network's, untouched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["largest_component", "fill_holes", "clean_mask"]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a bool H×W mask (an empty mask stays empty)."""
    import cv2

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return m.copy()
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m.astype(np.uint8), connectivity=8)
    if n <= 2:
        return m.copy()
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == best


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not 4-connected to the image border (holes) in a bool H×W mask."""
    from scipy.ndimage import binary_fill_holes

    m = np.asarray(mask, dtype=bool)
    return binary_fill_holes(m) if m.any() else m.copy()


def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Largest component, then hole filling: bool H×W -> bool H×W."""
    return fill_holes(largest_component(mask))
