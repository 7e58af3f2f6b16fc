"""The change and the ``changed`` flag: unchanged re-acquisitions are not flagged, known growth is."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.compare.run import compare_arrays
from dermaseg.compare.simulate import reacquire
from dermaseg.compare.thresholds import load_thresholds
from tests.compare.common import PIXEL_SIZE, grow, ph2


def test_shipped_thresholds_name_the_model_and_have_every_limit():
    from dermaseg.models.default import DEFAULT_SHA256

    th = load_thresholds()
    assert th["model"] == {"name": "default", "sha256": DEFAULT_SHA256}
    for key in ("area_pct", "diameter_pct", "asymmetry", "border"):
        lim = th["limits"][key]
        assert lim["lower"] < 0 < lim["upper"] or lim["lower"] <= 0 <= lim["upper"]
    assert 0 < th["limits"]["dice"]["lower"] < 1 and th["limits"]["colours"]["upper"] >= 0
    assert th["pairs"] >= 100


@pytest.mark.parametrize("seed", [4, 5])
def test_unchanged_lesion_reacquired_is_not_flagged(shared_data, seed):
    rgb, mask = ph2(shared_data, "IMD008")
    view = reacquire(rgb, mask, seed=seed)
    rec, _ = compare_arrays(rgb, view.image, mask, view.mask, pixel_size_before=PIXEL_SIZE)
    assert rec["registration"]["ok"]
    assert rec["status"] == "compared", rec["warnings"]
    assert rec["changed"] is False, rec["exceeded"]
    assert abs(rec["change"]["area_pct"]) < 3 and rec["change"]["dice"] > 0.95


def test_grown_lesion_is_flagged_with_the_right_change(shared_data):
    rgb, mask = ph2(shared_data, "IMD008")
    radius_mm = 0.8  # +85 % of the area: beyond the measured area limit (about +45 %)
    grown_rgb, grown_mask = grow(rgb, mask, round(radius_mm / PIXEL_SIZE))
    true_mm2 = float(grown_mask.sum() - mask.sum()) * PIXEL_SIZE**2
    true_pct = 100.0 * (grown_mask.sum() / mask.sum() - 1)
    view = reacquire(grown_rgb, grown_mask, seed=2)
    rec, arrays = compare_arrays(rgb, view.image, mask, view.mask, pixel_size_before=PIXEL_SIZE)
    assert rec["status"] == "compared" and rec["changed"] is True
    assert "area_pct" in rec["exceeded"]
    ch = rec["change"]
    # the stated error: the 95 % limits of agreement of the area, in % of the area
    lim = load_thresholds()["limits"]["area_pct"]
    err_pct = max(abs(lim["lower"]), abs(lim["upper"]))
    assert abs(ch["area_pct"] - true_pct) <= err_pct
    assert abs(ch["area_mm2"] - true_mm2) <= err_pct / 100 * mask.sum() * PIXEL_SIZE**2
    assert ch["diameter_mm"] == pytest.approx(2 * radius_mm, abs=0.25)
    assert ch["grown_mm2"] == pytest.approx(true_mm2, rel=0.1) and ch["shrunk_pct"] < 2
    assert arrays["grown"].sum() > 10 * arrays["shrunk"].sum()


@pytest.mark.slow
def test_model_segmented_growth_flagged_and_unchanged_not(shared_data):
    """Through the bundled model (the thresholds' own setting): pixels dilated by 0.8 mm are flagged,
    a re-acquisition of the unchanged lesion is not."""
    from dermaseg.inference.predictor import load_predictor

    pred = load_predictor("default")
    rgb, mask = ph2(shared_data, "IMD008")
    same = reacquire(rgb, seed=11)
    rec, _ = compare_arrays(rgb, same.image, predictor=pred, pixel_size_before=PIXEL_SIZE)
    assert rec["status"] == "compared" and rec["changed"] is False, rec["exceeded"]
    grown_rgb, grown_mask = grow(rgb, mask, round(0.8 / PIXEL_SIZE))
    rec, _ = compare_arrays(rgb, reacquire(grown_rgb, seed=2).image, predictor=pred, pixel_size_before=PIXEL_SIZE)
    true_pct = 100.0 * (grown_mask.sum() / mask.sum() - 1)
    assert rec["changed"] is True and "area_pct" in rec["exceeded"]
    lim = load_thresholds()["limits"]["area_pct"]
    assert abs(rec["change"]["area_pct"] - true_pct) <= max(abs(lim["lower"]), abs(lim["upper"]))
    assert np.isfinite(rec["change"]["area_mm2"]) and rec["change"]["area_mm2"] > 0
