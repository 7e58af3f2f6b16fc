"""Warnings attached to a predicted mask, so that no mask is silently meaningless.

A flag is a short, stable string (written to results.csv's ``flag`` column, metrics.json and the web app):

- ``empty``: the mask has no lesion pixel.
- ``covers-most-of-image``: the mask covers at least :data:`COVER_FRACTION` of the image. No ISIC 2017
  training mask does (largest 94 %; one of 150 validation masks, 95.8 %); it is SAM's typical failure
  when a single point selects the whole frame.
- ``predicted-failure``: the predicted quality (an estimate of the mask's Jaccard index against the
  truth) is below :data:`FAILURE_JACCARD`, the ISIC challenge's threshold for a failed segmentation.
- ``review``: the predicted quality is at least :data:`FAILURE_JACCARD` but below :data:`REVIEW_JACCARD`
  (0.80): not a likely failure, but worth a reviewer's look. The Predictor does not add it (its flags are
  the warnings above); the web app and workspaces add it with :func:`review_flags`, so a list sorted by
  quality shows which masks to look at first.
- ``untrained-prompt``: the prompt had clicks, but the model was trained with boxes only (upstream
  LiteMedSAM: a point alone gives an empty or tiny mask, with a box a comb-like fringe); set by the
  Predictor, which also warns (:data:`UNTRAINED_PROMPT_WARNING`).
"""

from __future__ import annotations

import numpy as np

from dermaseg.inference.postprocess import FAILURE_JACCARD

__all__ = ["FLAG_EMPTY", "FLAG_COVERS_MOST", "FLAG_PREDICTED_FAILURE", "FLAG_REVIEW", "COVER_FRACTION",
           "FAILURE_JACCARD", "REVIEW_JACCARD", "mask_flags", "review_flags", "FLAG_UNTRAINED_PROMPT",
           "UNTRAINED_PROMPT_WARNING"]

FLAG_EMPTY = "empty"
FLAG_COVERS_MOST = "covers-most-of-image"
FLAG_PREDICTED_FAILURE = "predicted-failure"
FLAG_REVIEW = "review"
FLAG_UNTRAINED_PROMPT = "untrained-prompt"
UNTRAINED_PROMPT_WARNING = ("'{name}' was trained with box prompts only: a point alone gives an empty mask, and "
                            "with a box a comb-like fringe along the mask's edge (upstream LiteMedSAM does the "
                            "same); give a box without points")
#: share of the image above which a mask is flagged as covering most of it
COVER_FRACTION = 0.95
#: predicted Jaccard below which (and at or above FAILURE_JACCARD) a mask is flagged for review
REVIEW_JACCARD = 0.80


def mask_flags(mask: np.ndarray, quality: float | None = None) -> tuple[str, ...]:
    """The flags of a bool H×W ``mask`` with optional predicted ``quality`` (estimated Jaccard)."""
    m = np.asarray(mask, dtype=bool)
    flags: list[str] = []
    area = int(m.sum())
    if area == 0:
        flags.append(FLAG_EMPTY)
    elif m.size and area / m.size >= COVER_FRACTION:
        flags.append(FLAG_COVERS_MOST)
    if quality is not None and np.isfinite(quality) and quality < FAILURE_JACCARD:
        flags.append(FLAG_PREDICTED_FAILURE)
    return tuple(flags)


def review_flags(flags, quality: float | None) -> tuple[str, ...]:
    """``flags`` (a Prediction's) plus ``review`` when ``quality`` lies in [FAILURE_JACCARD, REVIEW_JACCARD)."""
    out = tuple(flags)
    if (quality is not None and np.isfinite(quality) and FAILURE_JACCARD <= quality < REVIEW_JACCARD
            and FLAG_REVIEW not in out):
        out += (FLAG_REVIEW,)
    return out
