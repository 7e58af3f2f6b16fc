"""Simulated corrective clicks, from the current mask and the truth.

Two uses, one rule for where the error is:

- :func:`next_click`: the standard interactive-segmentation protocol (RITM's ``get_next_points``, used for
  NoC@85/90 since Xu et al. 2016): the error regions are the missed lesion (``truth & ~pred``) and the false
  lesion (``pred & ~truth``); the click goes to the point of either that lies farthest from its region's
  border (the maximum of the Euclidean distance transform, the image border counting as border), positive
  in a missed area, negative in a false one. Deterministic: the first maximum in row-major order.
- :func:`sample_click`: the training version (SAM's interactive scheme samples clicks from the error
  region): the same choice of region kind, then with probability ``p_centre`` the protocol's point, else a
  pixel of that error drawn with weight proportional to its distance to the border (never a border pixel).

Coordinates returned are ``(x, y)`` = (column, row) in the masks' own pixel grid; label 1 = lesion,
0 = background. Masks are bool H×W.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Click", "error_distances", "next_click", "sample_click"]

#: (x, y, label)
Click = tuple[float, float, int]


def error_distances(pred: np.ndarray, truth: np.ndarray,
                    valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distance transform of the missed lesion, of the false lesion), float H×W, 0 outside each error.
    ``valid``: bool H×W, where clicks may go (e.g. the image inside a padded frame)."""
    from scipy.ndimage import distance_transform_edt

    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    fn, fp = truth & ~pred, pred & ~truth
    if valid is not None:
        fn, fp = fn & valid, fp & valid
    out = []
    for err in (fn, fp):
        if not err.any():
            out.append(np.zeros(err.shape, np.float64))
            continue
        padded = np.pad(err, 1, constant_values=False)  # the image border is a region border
        out.append(distance_transform_edt(padded)[1:-1, 1:-1])
    return out[0], out[1]


def next_click(pred: np.ndarray, truth: np.ndarray, valid: np.ndarray | None = None) -> Click | None:
    """The protocol's next click (module docstring), or None when the mask equals the truth."""
    dfn, dfp = error_distances(pred, truth, valid)
    mfn, mfp = float(dfn.max()), float(dfp.max())
    if mfn <= 0 and mfp <= 0:
        return None
    positive = mfn >= mfp
    d = dfn if positive else dfp
    r, c = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(c), float(r), int(positive)


def sample_click(pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator, p_centre: float = 0.5,
                 valid: np.ndarray | None = None) -> Click | None:
    """A training click (module docstring), or None when the mask equals the truth."""
    dfn, dfp = error_distances(pred, truth, valid)
    mfn, mfp = float(dfn.max()), float(dfp.max())
    if mfn <= 0 and mfp <= 0:
        return None
    positive = mfn >= mfp
    d = dfn if positive else dfp
    if rng.random() < p_centre:
        flat = int(np.argmax(d))
    else:
        w = d.reshape(-1)
        flat = int(rng.choice(w.size, p=w / w.sum()))
    r, c = np.unravel_index(flat, d.shape)
    return float(c), float(r), int(positive)
