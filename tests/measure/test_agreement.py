"""agreement() against values computed by hand on four images."""

from __future__ import annotations

import math

import pytest

from dermaseg.measure import agreement


def _rec(area, diam, asym, axes, colours, n_colours, diam_mm=None):
    return {"area_px": area, "area_mm2": None, "diameter_px": diam, "diameter_mm": diam_mm, "asymmetry": asym,
            "asymmetry_axes": axes, "colours": colours, "n_colours": n_colours}


PRED = [_rec(100, 10.0, 0.1, 0, ["light brown"], 1), _rec(50, 22.0, 0.2, 1, ["light brown", "dark brown"], 2),
        _rec(0, 30.0, 0.3, 1, [], 0), _rec(10, None, 0.4, 2, [], None)]
TRUTH = [_rec(80, 12.0, 0.1, 0, ["light brown"], 1), _rec(50, 20.0, 0.3, 1, ["dark brown"], 1),
         _rec(0, 30.0, 0.2, 2, [], 0), _rec(20, 40.0, 0.5, 2, ["black"], 1)]


def test_agreement_by_hand():
    a = agreement(PRED, TRUTH)
    assert a["n"] == 4
    # area: differences 20, 0, 0, -10; relative (truth > 0 only) 20/80, 0/50, 10/20
    assert a["area_px"] == pytest.approx({"mae": 7.5, "mre": 0.25, "median_re": 0.25, "bias": 2.5, "n": 4})
    # diameter: pairs (10, 12), (22, 20), (30, 30); d = -2, 2, 0; sd = sqrt(8 / 2) = 2
    d = a["diameter_px"]
    assert d["n"] == 3 and d["mae"] == pytest.approx(4 / 3) and d["bias"] == pytest.approx(0.0)
    assert d["mre"] == pytest.approx((2 / 12 + 2 / 20 + 0) / 3) and d["median_re"] == pytest.approx(0.1)
    assert d["sd"] == pytest.approx(2.0)
    assert d["loa_low"] == pytest.approx(-3.92) and d["loa_high"] == pytest.approx(3.92)
    # asymmetry: r = 0.055 / sqrt(0.05 * 0.0875); ranks (1,2,3,4) vs (1,3,2,4): rho = 1 - 6*2/(4*15)
    s = a["asymmetry"]
    assert s["pearson"] == pytest.approx(0.055 / math.sqrt(0.05 * 0.0875))
    assert s["spearman"] == pytest.approx(0.8) and s["mae"] == pytest.approx(0.075) and s["n"] == 4
    assert a["asymmetry_axes"] == {"agreement": 0.75, "n": 4}
    # colours (the 4th image has no colour prediction): Jaccard 1, 1/2, 1 (two empty sets agree)
    c = a["colours"]
    assert c["n"] == 3 and c["mean_jaccard"] == pytest.approx(2.5 / 3)
    assert c["identical"] == pytest.approx(2 / 3) and c["n_colours_mae"] == pytest.approx(1 / 3)
    # no pixel size anywhere: the mm blocks say so
    assert a["diameter_mm"]["n"] == 0 and a["diameter_mm"]["mae"] is None and a["diameter_mm"]["loa_low"] is None
    assert a["area_mm2"] == {"mae": None, "mre": None, "median_re": None, "bias": None, "n": 0}


def test_mm_and_degenerate_cases():
    pred = [_rec(1, 2.0, 0.1, 0, [], None, diam_mm=0.2), _rec(1, 2.0, 0.1, 0, [], None, diam_mm=0.3)]
    truth = [_rec(1, 2.0, 0.1, 0, [], None, diam_mm=0.1), _rec(1, 2.0, 0.1, 0, [], None, diam_mm=0.3)]
    a = agreement(pred, truth)
    assert a["diameter_mm"]["mae"] == pytest.approx(0.05) and a["diameter_mm"]["bias"] == pytest.approx(0.05)
    assert a["asymmetry"]["pearson"] is None and a["asymmetry"]["spearman"] is None  # constant: undefined
    assert a["colours"] == {"mean_jaccard": None, "identical": None, "n_colours_mae": None, "n": 0}
    assert agreement([], [])["n"] == 0


def test_lengths_must_match():
    with pytest.raises(ValueError, match="3 predicted records but 2"):
        agreement(PRED[:3], TRUTH[:2])
