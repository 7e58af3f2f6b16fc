"""SkinSAM prompt simulation (statistics over many seeds) and the prompts not taken from the truth."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.prompts import (
    SOURCE_CENTRE,
    SOURCE_TRUTH,
    Prompt,
    box_from_mask,
    center_box,
    center_point,
    make_prompt,
    mask_bbox,
    pixel_scale,
    skinsam_prompt,
    user_prompt,
)

H, W = 192, 256  # ISIC 2017 copy's size: k = 256 / 600


def _lesion() -> np.ndarray:
    m = np.zeros((H, W), bool)
    yy, xx = np.mgrid[:H, :W]
    m[((xx - 120) / 40.0) ** 2 + ((yy - 95) / 28.0) ** 2 <= 1] = True  # ellipse well inside the image
    return m


def test_pixel_scale_rule():
    assert pixel_scale((450, 600)) == 1.0
    assert pixel_scale((192, 256)) == pytest.approx(256 / 600)
    assert pixel_scale((1200, 900)) == 2.0


def test_skinsam_statistics_over_seeds():
    m = _lesion()
    x0, y0, x1, y1 = mask_bbox(m)
    k = 256 / 600
    gw, gh = (x1 - x0) + 2 * 20 * k, (y1 - y0) + 2 * 20 * k  # grown box size before jitter
    gcx, gcy = (x0 + x1) / 2, (y0 + y1) / 2
    dxs, dys, ss = [], [], []
    for seed in range(3000):
        p = skinsam_prompt(m, "box+point", seed=seed, image_id="ISIC_0000001")
        assert p.source == SOURCE_TRUTH
        (px, py), = p.points
        assert m[int(py), int(px)], "the point must lie inside the true mask"
        bx0, by0, bx1, by1 = p.box
        assert 0 <= bx0 < bx1 <= W - 1 and 0 <= by0 < by1 <= H - 1
        sw, sh = (bx1 - bx0) / gw, (by1 - by0) / gh
        assert sw == pytest.approx(sh, abs=1e-9), "one scale factor for width and height"
        ss.append(sw)
        dxs.append((bx0 + bx1) / 2 - gcx)
        dys.append((by0 + by1) / 2 - gcy)
    dxs, dys, ss = map(np.asarray, (dxs, dys, ss))
    lim = 30 * k
    assert np.abs(dxs).max() <= lim + 1e-9 and np.abs(dys).max() <= lim + 1e-9
    assert np.abs(dxs).max() > 0.95 * lim and np.abs(dys).max() > 0.95 * lim  # the full range is used
    se = lim / np.sqrt(3) / np.sqrt(len(dxs))
    assert abs(dxs.mean()) < 4 * se and abs(dys.mean()) < 4 * se  # mean shift ~ 0
    assert abs(np.corrcoef(dxs, dys)[0, 1]) < 0.1  # independent axes
    assert ss.min() >= 0.9 - 1e-9 and ss.max() <= 1.1 + 1e-9
    assert ss.min() < 0.905 and ss.max() > 1.095 and abs(ss.mean() - 1.0) < 0.005


def test_seeded_and_order_independent():
    m = _lesion()
    a = [skinsam_prompt(m, "box+point", seed=3, image_id=i) for i in ("a", "b", "c")]
    b = [skinsam_prompt(m, "box+point", seed=3, image_id=i) for i in ("c", "b", "a")][::-1]
    assert a == b
    assert a[0] != a[1]
    assert skinsam_prompt(m, "box+point", seed=4, image_id="a") != a[0]
    box_only = skinsam_prompt(m, "box", seed=3, image_id="a")
    pt_only = skinsam_prompt(m, "point", seed=3, image_id="a")
    assert box_only.box == a[0].box and box_only.points is None  # same box in box and box+point runs
    assert pt_only.points == a[0].points and pt_only.box is None


def test_box_clipped_at_image_border():
    m = np.zeros((H, W), bool)
    m[:20, :30] = True  # lesion in the top-left corner
    for seed in range(200):
        x0, y0, x1, y1 = skinsam_prompt(m, "box", seed=seed, image_id="c").box
        assert x0 >= 0 and y0 >= 0 and x1 <= W - 1 and y1 <= H - 1


def test_empty_truth_gives_empty_prompt():
    p = skinsam_prompt(np.zeros((10, 12), bool), "box+point")
    assert p.empty and p.source == SOURCE_TRUTH


def test_prompts_not_from_truth():
    c = center_point((100, 201))
    assert c.points == ((100.0, 49.5),) and c.labels == (1,) and c.source == SOURCE_CENTRE
    b = center_box((101, 201), fraction=0.5)
    assert b.box == (50.0, 25.0, 150.0, 75.0) and b.source == SOURCE_CENTRE
    m = np.zeros((50, 60), bool)
    m[10:21, 5:31] = True
    assert mask_bbox(m) == (5.0, 10.0, 30.0, 20.0)
    fm = box_from_mask(m, "default", margin=8)
    assert fm.box == (0.0, 2.0, 38.0, 28.0) and fm.source == "model: default"
    assert box_from_mask(np.zeros((5, 5), bool), "default").empty
    u = user_prompt(box=(1, 2, 3, 4), point=(5, 6))
    assert u.kwargs() == {"box": (1.0, 2.0, 3.0, 4.0), "points": ((5.0, 6.0),), "point_labels": (1,)}
    assert u.describe() == "box 1,2,3,4 + point 5,6 [user]"
    assert make_prompt("none", (5, 5)) == Prompt(source="none")
    assert make_prompt("center-box", (101, 201), center_fraction=0.5) == b
    with pytest.raises(ValueError, match="truth"):
        make_prompt("box", (5, 5))
    with pytest.raises(ValueError, match="unknown prompt kind"):
        make_prompt("boxes", (5, 5))
