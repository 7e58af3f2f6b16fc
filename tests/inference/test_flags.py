"""Flags on predicted masks: hand-made masks at the boundaries of each rule."""

from __future__ import annotations

import numpy as np

from dermaseg.inference.flags import COVER_FRACTION, FAILURE_JACCARD, mask_flags
from dermaseg.inference.predictor import Prediction


def test_empty_mask_is_flagged_empty():
    assert mask_flags(np.zeros((10, 10), bool)) == ("empty",)


def test_cover_fraction_boundary():
    m = np.zeros((10, 10), bool)
    m.flat[: int(COVER_FRACTION * 100) - 1] = True  # 94 of 100 pixels
    assert mask_flags(m) == ()
    m.flat[: int(COVER_FRACTION * 100)] = True  # 95 of 100
    assert mask_flags(m) == ("covers-most-of-image",)


def test_predicted_failure_threshold_and_unknown_quality():
    m = np.zeros((10, 10), bool)
    m[2:5, 2:5] = True
    assert mask_flags(m, FAILURE_JACCARD - 1e-6) == ("predicted-failure",)
    assert mask_flags(m, FAILURE_JACCARD) == ()
    assert mask_flags(m, None) == ()
    assert mask_flags(m, float("nan")) == ()
    assert mask_flags(np.zeros((4, 4), bool), 0.1) == ("empty", "predicted-failure")


def test_prediction_takes_score_as_quality_and_computes_flags():
    full = np.ones((8, 8), bool)
    p = Prediction(prob=full.astype(np.float32), mask=full, score=0.99)
    assert p.quality == 0.99 and p.flags == ("covers-most-of-image",)
    q = Prediction(prob=np.zeros((8, 8), np.float32), mask=np.zeros((8, 8), bool))
    assert q.quality is None and q.flags == ("empty",)
