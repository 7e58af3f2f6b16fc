"""Quality features, the quality model and its statistics, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.inference.quality import FEATURES, QualityModel, auroc, fit_quality, quality_features, spearman


def _disc(h=64, w=64, r=12, cy=32, cx=32):
    yy, xx = np.mgrid[:h, :w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_confident_map_of_its_own_mask():
    m = _disc()
    f = dict(zip(FEATURES, quality_features(m.astype(np.float32), m), strict=True))
    assert f["soft_dice"] == pytest.approx(1.0)
    assert f["uncertain"] == 0.0 and f["ring"] == 0.0 and f["discarded"] == 0.0 and f["border"] == 0.0
    assert f["inside"] == pytest.approx(1.0)
    assert f["area"] == pytest.approx(m.sum() / m.size)
    assert f["empty"] == 0.0


def test_hesitant_map_and_discarded_mass():
    m = _disc()
    p = np.where(m, 0.6, 0.0).astype(np.float32)
    p[:8, :8] = 0.8  # a confident blob that post-processing dropped
    f = dict(zip(FEATURES, quality_features(p, m), strict=True))
    assert f["uncertain"] == pytest.approx((m.sum() + 64) / m.sum())
    assert f["inside"] == pytest.approx(0.6)
    assert f["discarded"] == pytest.approx(64 * 0.8 / (m.sum() * 0.6 + 64 * 0.8), rel=1e-5)
    # soft Dice: 2 * 0.6 * |m| / (0.6 |m| + 51.2 + |m|)
    assert f["soft_dice"] == pytest.approx(2 * 0.6 * m.sum() / (0.6 * m.sum() + 51.2 + m.sum()), rel=1e-5)


def test_empty_mask_and_border():
    z = np.zeros((32, 32), bool)
    f = dict(zip(FEATURES, quality_features(np.zeros((32, 32), np.float32), z), strict=True))
    assert f["empty"] == 1.0 and f["soft_dice"] == 1.0 and f["area"] == 0.0
    full = np.ones((32, 32), bool)
    f = dict(zip(FEATURES, quality_features(full.astype(np.float32), full), strict=True))
    assert f["border"] == 1.0


def test_features_are_computed_at_the_model_size_whatever_the_image_size():
    import cv2

    yy, xx = np.mgrid[:192, :256]
    p = (1 / (1 + np.exp(((yy - 96) ** 2 + (xx - 128) ** 2) ** 0.5 - 50))).astype(np.float32)  # smooth map
    big = cv2.resize(p, (1024, 768), interpolation=cv2.INTER_LINEAR)  # what the Predictor returns for 1024x768
    a = quality_features(p, p > 0.5)
    b = quality_features(big, big > 0.5, size=(192, 256))
    assert np.allclose(a, b, atol=0.01)
    m = QualityModel(mean=(0.0,) * 8, std=(1.0,) * 8, weights=(1.0,) + (0.0,) * 7, bias=0.0, size=(192, 256))
    assert m(big, big > 0.5) == pytest.approx(float(a[0]), abs=0.01)


def test_fit_recovers_a_linear_relation_and_round_trips():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(FEATURES)))
    y = np.clip(0.7 + 0.1 * x[:, 0] - 0.05 * x[:, 2], 0, 1)
    model = fit_quality(x, y, ridge=1e-6)
    assert model.weights[0] == pytest.approx(0.1 * x[:, 0].std(), rel=0.05)
    assert np.abs(model.predict(x) - y).max() < 0.02
    again = QualityModel.from_dict(model.to_dict())
    assert np.allclose(again.predict(x), model.predict(x))


def test_auroc_and_spearman_hand_values():
    # positives scored 0.9, 0.4; negatives 0.5, 0.1: pairs won 3 of 4
    assert auroc([0.9, 0.4, 0.5, 0.1], [True, True, False, False]) == pytest.approx(0.75)
    assert np.isnan(auroc([0.1, 0.2], [True, True]))
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
