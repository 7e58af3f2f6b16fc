"""Colours (the six dermoscopic colours, CIELAB statistics, skin contrast, colour asymmetry) and the
border score, on synthetic images painted with known colours and edges."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.color import rgb2lab

from dermaseg.measure import measure
from dermaseg.measure.colour import COLOUR_NAMES, REFERENCE_LAB, REFERENCE_SRGB, min_shares

from . import shapes as S

SKIN = (220, 170, 150)


def _lab(rgb) -> np.ndarray:
    return rgb2lab(np.array([[rgb]], np.uint8))[0, 0]


def _canvas(h=120, w=180, colour=SKIN) -> np.ndarray:
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour
    return img


def test_reference_srgb_matches_reference_lab():
    for name in COLOUR_NAMES:
        assert np.linalg.norm(_lab(REFERENCE_SRGB[name]) - np.array(REFERENCE_LAB[name])) <= 1.0, name


def test_each_reference_colour_is_found():
    img = _canvas()
    mask = np.zeros(img.shape[:2], bool)
    mask[30:90, 15:165] = True
    for i, name in enumerate(COLOUR_NAMES):  # six vertical stripes of 25 px, one per colour
        img[30:90, 15 + 25 * i:40 + 25 * i] = REFERENCE_SRGB[name]
    rec = measure(mask, img, constancy="none")
    # each colour holds 1/6 of the lesion: present where 1/6 exceeds that colour's minimum share
    expected = [n for n in COLOUR_NAMES if 1 / 6 > min_shares()[n]]
    assert rec["colours"] == expected and rec["n_colours"] == len(expected)
    for name in COLOUR_NAMES:
        key = "share_" + name.replace(" ", "_").replace("-", "_")
        assert rec[key] == pytest.approx(1 / 6, abs=0.01), name


@pytest.mark.parametrize("name", COLOUR_NAMES)
def test_a_single_colour_lesion_has_that_colour(name):
    img = _canvas()
    mask = S.draw(S.ellipse(50, 35), 180)[:120]
    img[mask] = REFERENCE_SRGB[name]
    rec = measure(mask, img)
    assert rec["colours"] == [name] and rec["n_colours"] == 1


def test_skin_coloured_lesion_has_one_colour():
    rng = np.random.default_rng(0)
    img = np.clip(_canvas().astype(int) + rng.integers(-4, 5, (120, 180, 3)), 0, 255).astype(np.uint8)
    mask = S.draw(S.disc(35), 180)[:120]
    rec = measure(mask, img, constancy="none")
    # every pixel is nearest the surrounding skin: no colour reaches the share, the nearest reference
    # to the lesion's median colour is named
    assert rec["n_colours"] == 1 and rec["colours"] == ["light brown"]
    assert all(rec["share_" + k] == 0 for k in ("white", "red", "dark_brown", "blue_grey", "black"))
    assert rec["contrast_delta_e"] < 2
    # no skin around it at all (the lesion fills the image): still one colour
    full = np.ones((60, 60), bool)
    assert measure(full, img[:60, :60], constancy="none")["n_colours"] == 1


def test_minimum_share():
    img = _canvas()
    mask = np.zeros(img.shape[:2], bool)
    mask[20:100, 40:140] = True  # 8000 px, 80 rows of 100
    t = min_shares()["light brown"]
    below, above = int(round(80 * (t - 0.05))), int(round(80 * (t + 0.05)))
    assert 0 < below and above < 80 and 1 - (t + 0.05) > min_shares()["dark brown"]
    for rows, want in ((below, ["dark brown"]), (above, ["light brown", "dark brown"])):
        img[mask] = REFERENCE_SRGB["dark brown"]
        img[20:20 + rows, 40:140] = REFERENCE_SRGB["light brown"]
        rec = measure(mask, img, constancy="none")
        assert rec["share_light_brown"] == pytest.approx(rows / 80, abs=1e-9)
        assert rec["colours"] == want, (rows, t)


def test_lab_statistics_and_contrast():
    img = _canvas()
    mask = S.draw(S.disc(30), 180)[:120]
    img[mask] = REFERENCE_SRGB["dark brown"]
    rec = measure(mask, img, constancy="none")
    lesion, skin = _lab(REFERENCE_SRGB["dark brown"]), _lab(SKIN)
    assert [rec["lab_mean_l"], rec["lab_mean_a"], rec["lab_mean_b"]] == pytest.approx(lesion, abs=0.6)
    assert max(rec["lab_std_l"], rec["lab_std_a"], rec["lab_std_b"]) < 0.01
    assert [rec["skin_lab_l"], rec["skin_lab_a"], rec["skin_lab_b"]] == pytest.approx(skin, abs=0.6)
    assert rec["contrast_delta_e"] == pytest.approx(np.linalg.norm(skin - lesion), abs=0.8)
    assert rec["contrast_lightness"] == pytest.approx(skin[0] - lesion[0], abs=0.6) and rec["contrast_lightness"] > 0


def test_colour_asymmetry_about_each_axis():
    img = _canvas()
    mask = S.draw(S.ellipse(60, 35), 180, offset=(0.0, 0.0))[:120]  # major axis along x, centroid x = 90
    img[mask] = REFERENCE_SRGB["light brown"]
    left = mask.copy()
    left[:, 90:] = False
    img[left] = REFERENCE_SRGB["dark brown"]
    rec = measure(mask, img)
    step = np.linalg.norm(_lab(REFERENCE_SRGB["light brown"]) - _lab(REFERENCE_SRGB["dark brown"]))
    # left/right halves lie on either side of the minor axis; top/bottom halves are alike
    assert rec["colour_asymmetry_minor"] == pytest.approx(step, rel=0.05)
    assert rec["colour_asymmetry_major"] < 1.0
    assert rec["colour_asymmetry"] == rec["colour_asymmetry_minor"]


def _edge_image(mask: np.ndarray, fade_px: float, where: np.ndarray | None = None) -> np.ndarray:
    """Lesion dark brown on skin; where ``where`` is True the colour fades linearly over ``fade_px``
    pixels centred on the border, elsewhere it steps at the border."""
    import cv2

    m8 = mask.astype(np.uint8)
    t = np.where(mask, -cv2.distanceTransform(m8, cv2.DIST_L2, 5) + 0.5,
                 cv2.distanceTransform(1 - m8, cv2.DIST_L2, 5) - 0.5)
    frac_step = (~mask).astype(float)
    frac_fade = np.clip((t + fade_px / 2) / fade_px, 0, 1) if fade_px > 0 else frac_step
    frac = frac_fade if where is None else np.where(where, frac_fade, frac_step)
    lesion, skin = np.array(REFERENCE_SRGB["dark brown"], float), np.array(SKIN, float)
    return np.clip(lesion + frac[..., None] * (skin - lesion) + 0.5, 0, 255).astype(np.uint8)


def test_border_score_step_fade_and_half():
    mask = S.draw(S.ellipse(55, 38), 200, offset=(0.0, 0.0))[20:180]
    step = measure(mask, _edge_image(mask, 0.0))
    assert step["border_score"] == 8 and step["border_sharpness"] > 0.9
    fade = measure(mask, _edge_image(mask, 40.0))
    assert fade["border_score"] == 0 and fade["border_sharpness"] < 0.3
    top = np.zeros_like(mask)
    top[: mask.shape[0] // 2] = True  # step above the major axis, fade below: four sectors of eight
    half = measure(mask, _edge_image(mask, 40.0, where=~top))
    assert half["border_score"] == 4


def test_low_contrast_border_is_not_abrupt():
    mask = S.draw(S.disc(40), 160)[:120, :160]
    img = _canvas(120, 160)
    img[mask] = (214, 166, 147)  # ΔE ≈ 2.5 from the skin: no pigment cut-off to speak of
    rec = measure(mask, img)
    assert rec["border_score"] == 0 and rec["border_sharpness"] is None


def test_no_image_no_colour():
    rec = measure(S.draw(S.disc(20), 60))
    assert rec["colours"] == [] and rec["n_colours"] is None
    for k in ("border_score", "border_sharpness", "colour_asymmetry", "lab_mean_l", "contrast_delta_e",
              "share_black"):
        assert rec[k] is None, k
