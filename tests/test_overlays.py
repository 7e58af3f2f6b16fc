"""Masks and prompts drawn on images (segment's overlay PNG, the report's tint and contours)."""

from __future__ import annotations

import numpy as np

from dermaseg import overlays as O


def test_outline_is_the_boundary_band():
    m = np.zeros((8, 10), bool)
    m[2:6, 3:8] = True  # 4 x 5 block
    ring = O.outline(m)
    assert ring.sum() == 4 * 5 - 2 * 3  # every block pixel but the 2 x 3 interior
    assert not ring[3:5, 4:7].any() and ring[2, 3] and ring[5, 7]
    assert not (ring & ~m).any()
    full = np.ones((4, 4), bool)  # the image border counts as background
    assert O.outline(full).sum() == 12
    assert O.outline(m, thickness=2).sum() == 20  # the interior is within 2 px of the background


def test_draw_overlay_colours_and_positions():
    rgb = np.full((40, 60, 3), 50, np.uint8)
    m = np.zeros((40, 60), bool)
    m[10:30, 20:40] = True
    out = O.draw_overlay(rgb, m, box=(5, 5, 50, 35), points=[(30, 20)])
    assert out.shape == rgb.shape and out.dtype == np.uint8 and (rgb == 50).all()  # input untouched
    assert tuple(out[10, 25]) == O.OUTLINE_RGB  # top edge of the mask
    assert tuple(out[5, 10]) == O.BOX_RGB and tuple(out[35, 45]) == O.BOX_RGB  # box edges
    assert tuple(out[20, 30]) == O.POINT_RGB  # the point's centre
    assert tuple(out[0, 0]) == (50, 50, 50) and tuple(out[15, 25]) == (50, 50, 50)  # outside, interior


def test_contours_and_overlay_are_not_flipped_or_transposed():
    mask = np.zeros((20, 50), bool)
    mask[2:5, 30:45] = True  # a wide block near the top right
    (c,) = O.contours(mask)
    x, y = c[:, 0], c[:, 1]
    assert 29 <= x.min() and x.max() <= 45 and 1 <= y.min() and y.max() <= 5  # x = column, y = row
    assert O.contours(np.zeros((3, 3), bool)) == []
    edge = np.zeros((10, 10), bool)
    edge[:4, :4] = True  # touches the border: still one closed contour around it
    (e,) = O.contours(edge)
    assert np.allclose(e[0], e[-1]) and e[:, 0].min() < 0 and e[:, 1].min() < 0

    rgb = np.full((20, 50, 3), 100, np.uint8)
    truth = np.zeros((20, 50), bool)
    truth[0, 0] = True
    pred = np.zeros((20, 50), bool)
    pred[19, 49] = True
    ov = O.tint(rgb, truth, pred)
    assert ov[0, 0, 1] > ov[0, 0, 0] and ov[0, 0, 1] > ov[0, 0, 2]  # truth-only: green
    assert ov[19, 49, 0] > 0.6 and ov[19, 49, 1] > 0.6 and ov[19, 49, 2] < 0.3  # prediction-only: yellow
    assert np.allclose(ov[10, 10], 100 / 255)  # untouched


def test_outline_width_grows_with_the_image_and_the_style_says_so():
    # 1 px per 300 px of the longest side, at least 1; halves go to even (Python's round): 750/300 = 2.5 -> 2
    assert [O.outline_width(h, w) for h, w in ((10, 10), (450, 600), (10, 750), (10, 900), (1350, 20))] == \
        [1, 2, 2, 3, 4]
    m = np.zeros((600, 900), bool)
    m[100:500, 200:700] = True
    out = O.draw_overlay(np.zeros((600, 900, 3), np.uint8), m)
    band = (out == O.OUTLINE_RGB).all(axis=2)
    assert band[100:103, 400].all() and not band[103, 400]  # 3 px wide at 900 px
    style = O.overlay_style()
    assert style["rgb"] == [255, 255, 0] and style["box_rgb"] == [0, 255, 255] and style["point_rgb"] == [0, 255, 0]
    assert style["width"] == 1 and style["pixels_per_width"] == 300
