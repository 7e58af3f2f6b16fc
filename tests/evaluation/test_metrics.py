"""Metrics: hand-computed cases, the documented empty-mask values, and agreement with MONAI and smp."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dermaseg.evaluation.metrics import (
    Counts,
    batch_dice_iou,
    by_group,
    confusion_counts,
    hd95,
    image_metrics,
    scores_from_counts,
    summarize,
    thresholded_jaccard,
)


def _grid(rows: list[str]) -> np.ndarray:
    return np.array([[c == "1" for c in r] for r in rows], dtype=bool)


TRUTH = _grid(["1100", "1100", "0000", "0000"])
PRED = _grid(["0110", "0110", "0000", "0000"])


def test_hand_computed_4x4():
    # overlap = column 1 of rows 0-1 -> tp 2; pred adds column 2 -> fp 2; truth keeps column 0 -> fn 2
    c = confusion_counts(PRED, TRUTH)
    assert c == Counts(tp=2, fp=2, fn=2, tn=10)
    m = image_metrics(PRED, TRUTH)
    assert m["accuracy"] == pytest.approx(12 / 16)
    assert m["precision"] == pytest.approx(2 / 4)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["specificity"] == pytest.approx(10 / 12)
    assert m["dice"] == pytest.approx(4 / 8)
    assert m["iou"] == pytest.approx(2 / 6)
    assert m["thresholded_jaccard"] == 0.0  # 0.333 < 0.65
    # every pixel of both 2x2 squares is boundary; pred column 1 lies on truth (0), column 2 is 1 away:
    # distances [0, 0, 1, 1] both ways -> linear 95th percentile = 1
    assert m["hd95"] == pytest.approx(1.0)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 2, 10)


def test_hd95_percentile_interpolation_and_symmetry():
    truth = np.zeros((8, 8), bool)
    truth[0, 0] = True
    pred = truth.copy()
    pred[0, 3] = True
    # pred -> truth distances [0, 3]: P95 = 0.95 * 3 = 2.85 ; truth -> pred: [0] -> 0 ; max = 2.85
    assert hd95(pred, truth) == pytest.approx(2.85)
    assert hd95(truth, pred) == pytest.approx(2.85)
    far = np.zeros((8, 8), bool)
    far[3, 4] = True
    assert hd95(far, truth) == pytest.approx(5.0)  # 3-4-5 triangle


def test_hd95_uses_boundary_not_area():
    # two concentric filled squares: interior pixels must not count, only the outlines.
    # outer outline (24x24 ring, 92 px) -> inner outline (20x20): 80 px at 2, 8 px next to the corners
    # at sqrt(5), 4 corners at sqrt(8). Sorted, the linear P95 falls at index 0.95 * 91 = 86.45,
    # inside the sqrt(5) run (indices 80-87). Inner -> outer: all 76 px at 2. HD95 = sqrt(5).
    truth = np.zeros((40, 40), bool)
    truth[10:30, 10:30] = True
    pred = np.zeros((40, 40), bool)
    pred[8:32, 8:32] = True
    assert hd95(pred, truth) == pytest.approx(math.sqrt(5))


def test_thresholded_jaccard_boundary():
    assert thresholded_jaccard(0.65) == 0.65
    assert thresholded_jaccard(0.6499) == 0.0
    assert thresholded_jaccard(0.9) == 0.9


def test_empty_both():
    z = np.zeros((5, 7), bool)
    m = image_metrics(z, z)
    for k in ("accuracy", "precision", "recall", "specificity", "dice", "iou", "thresholded_jaccard"):
        assert m[k] == 1.0, k
    assert m["hd95"] == 0.0


def test_empty_truth_nonempty_prediction():
    z = np.zeros((3, 4), bool)
    p = z.copy()
    p[1, 1] = True
    m = image_metrics(p, z)
    assert (m["dice"], m["iou"], m["precision"], m["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["specificity"] == pytest.approx(11 / 12)
    assert m["accuracy"] == pytest.approx(11 / 12)
    assert m["hd95"] == pytest.approx(5.0)  # diagonal of 3x4


def test_empty_prediction_nonempty_truth():
    t = np.zeros((6, 8), bool)
    t[2:4, 2:4] = True
    m = image_metrics(np.zeros_like(t), t)
    assert (m["dice"], m["iou"], m["precision"], m["recall"]) == (0.0, 0.0, 0.0, 0.0)
    assert m["specificity"] == 1.0
    assert m["hd95"] == pytest.approx(10.0)  # diagonal of 6x8


def test_full_masks_specificity_rule():
    f = np.ones((4, 4), bool)
    assert scores_from_counts(confusion_counts(f, f))["specificity"] == 1.0
    p = f.copy()
    p[0, 0] = False
    s = scores_from_counts(confusion_counts(p, f))
    assert s["specificity"] == 0.0  # tn + fp == 0 but the masks disagree
    assert s["recall"] == pytest.approx(15 / 16)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        confusion_counts(np.zeros((3, 4)), np.zeros((4, 3)))


def test_summarize_per_image_mean_vs_pooled():
    # image A: 4x4 example (dice 0.5); image B: a perfect 2x2 on 2x2 (dice 1) -> mean 0.75, std 0.25
    b = np.ones((2, 2), bool)
    rows = [image_metrics(PRED, TRUTH), image_metrics(b, b)]
    s = summarize(rows)
    assert s["n"] == 2
    assert s["per_image_mean"]["dice"]["mean"] == pytest.approx(0.75)
    assert s["per_image_mean"]["dice"]["std"] == pytest.approx(0.25)
    # pooled counts: tp 2+4, fp 2, fn 2, tn 10 -> dice 12 / 16 = 0.75, iou 6 / 10
    assert s["pooled"]["tp"] == 6 and s["pooled"]["tn"] == 10
    assert s["pooled"]["dice"] == pytest.approx(12 / 16)
    assert s["pooled"]["iou"] == pytest.approx(6 / 10)
    assert s["per_image_mean"]["iou"]["mean"] == pytest.approx((1 / 3 + 1) / 2)
    assert "thresholded_jaccard" not in s["pooled"]


def test_by_group_mean_and_std_no_variance():
    rows = [{"label": "melanoma", "dice": 0.5}, {"label": "melanoma", "dice": 0.9},
            {"label": "nevus", "dice": 0.8}, {"label": None, "dice": 0.1}]
    g = by_group(rows, "label", metrics=("dice",))
    assert list(g) == ["melanoma", "nevus", "unlabelled"]
    assert g["melanoma"]["n"] == 2
    assert g["melanoma"]["dice"]["mean"] == pytest.approx(0.7)
    assert g["melanoma"]["dice"]["std"] == pytest.approx(0.2)  # sqrt(((0.2)^2 + (0.2)^2) / 2)
    assert g["nevus"]["dice"] == {"mean": 0.8, "std": 0.0, "n": 1}
    assert all("var" not in v for entry in g.values() for v in entry.values() if isinstance(v, dict))


def test_batch_dice_iou_matches_numpy_and_empty_rule():
    t = torch.zeros(3, 1, 4, 4, dtype=torch.bool)
    p = torch.zeros_like(t)
    t[0, 0] = torch.from_numpy(TRUTH)
    p[0, 0] = torch.from_numpy(PRED)
    # image 1: both empty -> 1 ; image 2: prediction only -> 0
    p[2, 0, 0, 0] = True
    dice, iou = batch_dice_iou(p, t)
    assert dice.shape == (3,) and dice.dtype == torch.float32
    assert dice.tolist() == pytest.approx([0.5, 1.0, 0.0])
    assert iou.tolist() == pytest.approx([1 / 3, 1.0, 0.0])
    d2, _ = batch_dice_iou(p[:, 0], t[:, 0].float())
    assert torch.equal(d2, dice)


def _random_masks(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    """Blob-like random masks: thresholded smoothed noise (never empty)."""
    from scipy.ndimage import gaussian_filter

    out = np.zeros((n, h, w), bool)
    for i in range(n):
        f = gaussian_filter(rng.standard_normal((h, w)), sigma=rng.uniform(2, 6))
        out[i] = f > np.quantile(f, rng.uniform(0.3, 0.9))
    return out


def test_agrees_with_monai_and_smp_on_random_masks():
    import segmentation_models_pytorch as smp
    from monai.metrics import DiceMetric, MeanIoU, compute_hausdorff_distance

    rng = np.random.default_rng(0)
    preds = _random_masks(rng, 6, 45, 60)
    truths = _random_masks(rng, 6, 45, 60)
    rows = [image_metrics(p, t) for p, t in zip(preds, truths, strict=True)]
    P = torch.from_numpy(preds)[:, None].float()
    T = torch.from_numpy(truths)[:, None].float()

    dice_m = DiceMetric(include_background=True, reduction="none", ignore_empty=False)(P, T)[:, 0]
    iou_m = MeanIoU(include_background=True, reduction="none", ignore_empty=False)(P, T)[:, 0]
    hd_m = compute_hausdorff_distance(P.bool(), T.bool(), include_background=True, percentile=95)[:, 0]
    np.testing.assert_allclose([r["dice"] for r in rows], dice_m.numpy(), rtol=1e-6)
    np.testing.assert_allclose([r["iou"] for r in rows], iou_m.numpy(), rtol=1e-6)
    np.testing.assert_allclose([r["hd95"] for r in rows], hd_m.numpy(), rtol=1e-5, atol=1e-5)

    tp, fp, fn, tn = smp.metrics.get_stats(P.long(), T.long(), mode="binary")
    assert [r["tp"] for r in rows] == tp[:, 0].tolist()
    assert [r["tn"] for r in rows] == tn[:, 0].tolist()
    s = summarize(rows)
    for ours, fn_smp in (("iou", smp.metrics.iou_score), ("dice", smp.metrics.f1_score),
                         ("accuracy", smp.metrics.accuracy), ("precision", smp.metrics.precision),
                         ("recall", smp.metrics.recall), ("specificity", smp.metrics.specificity)):
        pooled = float(fn_smp(tp, fp, fn, tn, reduction="micro"))
        imagewise = float(fn_smp(tp, fp, fn, tn, reduction="micro-imagewise"))
        assert s["pooled"][ours] == pytest.approx(pooled, rel=1e-6), ours
        assert s["per_image_mean"][ours]["mean"] == pytest.approx(imagewise, rel=1e-6), ours

    d_t, i_t = batch_dice_iou(torch.from_numpy(preds), torch.from_numpy(truths))
    np.testing.assert_allclose(d_t.numpy(), dice_m.numpy(), rtol=1e-5)
    np.testing.assert_allclose(i_t.numpy(), iou_m.numpy(), rtol=1e-5)


def test_hd95_fast_on_isic_size():
    import time

    rng = np.random.default_rng(1)
    p, t = _random_masks(rng, 2, 450, 600)
    t0 = time.perf_counter()
    v = hd95(p, t)
    assert math.isfinite(v)
    assert time.perf_counter() - t0 < 0.5
