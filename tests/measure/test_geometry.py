"""Size, shape and asymmetry on synthetic shapes with known answers (tests/measure/shapes.py)."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest

from dermaseg.errors import DermasegError
from dermaseg.measure import EXTRA_KEYS, MEASURE_KEYS, measure
from dermaseg.measure.asymmetry import ASYMMETRY_THRESHOLD

from . import shapes as S


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("r, asym_tol", [(10, 0.025), (25, 0.015), (60, 0.01)])
def test_disc(r, asym_tol):
    rec = measure(S.draw(S.disc(r), 2 * r + 20))
    assert abs(rec["diameter_px"] - 2 * r) <= 1.0  # Feret = 2r within a pixel
    assert abs(rec["compactness"] - 1.0) <= 0.015  # Crofton perimeter: P²/4πA ≈ 1
    assert _rel(rec["perimeter_px"], 2 * math.pi * r) <= 0.01
    assert _rel(rec["area_px"], math.pi * r * r) <= 0.01
    assert _rel(rec["equivalent_diameter_px"], 2 * r) <= 0.01
    assert rec["asymmetry"] <= asym_tol and rec["asymmetry_axes"] == 0  # digitisation only
    assert rec["solidity"] == 1.0  # a digitised convex shape: every hull pixel is in the mask
    assert rec["n_components"] == 1 and rec["n_holes"] == 0
    assert rec["eccentricity"] < 0.2


@pytest.mark.parametrize("angle", [0, 30, 45, 73])
def test_ellipse_axes_and_feret(angle):
    a, b = 60, 25
    rec = measure(S.draw(S.ellipse(a, b), 150, angle))
    assert abs(rec["diameter_px"] - 2 * a) <= 1.0  # Feret = 2a
    assert _rel(rec["major_axis_px"], 2 * a) <= 0.01 and _rel(rec["minor_axis_px"], 2 * b) <= 0.02
    assert abs(rec["eccentricity"] - math.sqrt(1 - (b / a) ** 2)) <= 0.01
    # shapes.draw turns clockwise on screen (y down); orientation_deg counts counter-clockwise
    assert abs(((rec["orientation_deg"] + angle) + 90) % 180 - 90) <= 0.5
    assert rec["asymmetry"] <= 0.015 and rec["asymmetry_axes"] == 0
    assert rec["solidity"] == 1.0


def test_orientation_is_counter_clockwise_on_screen():
    # a bar rising to the right on screen (row decreasing as x grows) is at +45°
    m = np.zeros((100, 100), bool)
    for i in range(60):
        m[80 - i - 2:80 - i + 2, 20 + i] = True
    assert abs(measure(m)["orientation_deg"] - 45) <= 1.0


@pytest.mark.parametrize("angle", [0, 30, 45])
def test_square_is_symmetric_at_any_rotation(angle):
    side = 70
    rec = measure(S.draw(S.square(side), 140, angle))
    assert rec["asymmetry"] <= 0.015 and rec["asymmetry_axes"] == 0
    assert abs(rec["diameter_px"] - side * math.sqrt(2)) <= 1.5 * math.sqrt(2)
    assert rec["solidity"] == 1.0
    assert 1.10 <= rec["compactness"] <= 1.32  # 4/pi = 1.27; Crofton's straight-edge bias is documented


#: name: (shape, frame size, extent of the reference fold). Arms 50-60 px wide: at half that size the
#: digitisation alone (a whole row of pixels in or out along a 45° edge) moves the asymmetry by 2 %.
REFERENCE = {
    "l_equal": (S.l_shape(180, 180, 60), 300, 160),
    "l_unequal": (S.l_shape(220, 120, 50), 300, 160),
    "half_disc": (S.half_disc(100), 260, 120),
}


@functools.cache
def _reference_fold(name: str) -> tuple[float, float]:
    shape, _, extent = REFERENCE[name]
    return S.fine_fold(shape, extent, step=0.1)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_asymmetric_shapes_match_an_independent_fold(name):
    shape, size, extent = REFERENCE[name]
    ref_major, ref_minor = _reference_fold(name)
    rec = measure(S.draw(shape, size))
    assert abs(rec["asymmetry_major"] - ref_major) <= max(0.02 * ref_major, 0.01)
    assert abs(rec["asymmetry_minor"] - ref_minor) <= max(0.02 * ref_minor, 0.01)
    assert rec["asymmetry"] == pytest.approx((rec["asymmetry_major"] + rec["asymmetry_minor"]) / 2)


def test_asymmetric_on_the_expected_axes():
    # equal-armed L: mirror-symmetric about its diagonal (the minor axis), not about the major axis
    l_eq = measure(S.draw(S.l_shape(90, 90, 30), 160))
    assert l_eq["asymmetry_minor"] <= 0.02 and l_eq["asymmetry_major"] > 0.5 and l_eq["asymmetry_axes"] == 1
    # half disc: symmetric about the axis through the middle of its flat side (minor), not the other
    half = measure(S.draw(S.half_disc(50), 140))
    assert half["asymmetry_minor"] <= 0.015 and half["asymmetry_major"] > 0.15 and half["asymmetry_axes"] == 1
    # unequal L: no symmetry at all
    l_un = measure(S.draw(S.l_shape(110, 60, 25), 160))
    assert min(l_un["asymmetry_major"], l_un["asymmetry_minor"]) > ASYMMETRY_THRESHOLD
    assert l_un["asymmetry_axes"] == 2


@pytest.mark.parametrize("name", ["l_equal", "l_unequal", "half_disc", "ellipse", "disc", "square"])
@pytest.mark.parametrize("angle", [30, 45])
def test_rotation_changes_nothing(name, angle):
    shapes = dict(REFERENCE, ellipse=(S.ellipse(60, 30), 160, 0), disc=(S.disc(45), 120, 0),
                  square=(S.square(70), 140, 0))
    shape, size, extent = shapes[name]
    base = measure(S.draw(shape, size, 0))
    rot = measure(S.draw(shape, size, angle, offset=(0.77, 0.41)))
    assert _rel(rot["diameter_px"], base["diameter_px"]) <= 0.02
    assert _rel(rot["area_px"], base["area_px"]) <= 0.02
    ref = dict(zip(("asymmetry_major", "asymmetry_minor"), _reference_fold(name), strict=True)) \
        if name in REFERENCE else {}
    for key in ("asymmetry", "asymmetry_major", "asymmetry_minor"):
        if base[key] > 0.05:
            assert _rel(rot[key], base[key]) <= 0.02, key
            if key in ref:  # and both agree with the continuous shape's own fold
                assert _rel(rot[key], ref[key]) <= 0.02 and _rel(base[key], ref[key]) <= 0.02, key
        else:  # symmetric about that axis: both near 0
            assert base[key] <= 0.02 and rot[key] <= 0.02, key
    assert rot["asymmetry_axes"] == base["asymmetry_axes"]


def test_ring_solidity_and_hole():
    rec = measure(S.draw(S.ring(50, 25), 130))
    assert abs(rec["solidity"] - (50**2 - 25**2) / 50**2) <= 0.01
    assert rec["n_holes"] == 1 and rec["n_components"] == 1
    assert abs(rec["diameter_px"] - 100) <= 1.0
    # Crofton counts both boundaries: P = 2π(R + r), A = π(R² - r²)
    assert _rel(rec["perimeter_px"], 2 * math.pi * 75) <= 0.01
    assert rec["asymmetry"] <= 0.02


def test_two_components_are_one_lesion():
    m = S.draw(S.disc(15), 120, offset=(-30, 0)) | S.draw(S.disc(10), 120, offset=(30, 0))
    rec = measure(m)
    assert rec["n_components"] == 2 and rec["n_holes"] == 0
    assert abs(rec["diameter_px"] - (60 + 15 + 10)) <= 1.0  # across both parts
    from scipy.spatial import ConvexHull

    t = np.linspace(0, 2 * np.pi, 2000, endpoint=False)
    pts = np.concatenate([np.c_[-30 + 15 * np.cos(t), 15 * np.sin(t)], np.c_[30 + 10 * np.cos(t), 10 * np.sin(t)]])
    expected = math.pi * (15**2 + 10**2) / ConvexHull(pts).volume  # 2-D "volume" is the area
    assert abs(rec["solidity"] - expected) <= 0.02


def test_pixel_size_doubles_mm_not_px():
    m = S.draw(S.ellipse(40, 20), 100, 20)
    a, b = measure(m, pixel_size=0.01), measure(m, pixel_size=0.02)
    for px, mm, power in (("area_px", "area_mm2", 2), ("perimeter_px", "perimeter_mm", 1),
                          ("diameter_px", "diameter_mm", 1), ("major_axis_px", "major_axis_mm", 1),
                          ("equivalent_diameter_px", "equivalent_diameter_mm", 1)):
        assert a[px] == b[px]
        assert b[mm] == pytest.approx(a[mm] * 2**power)
        assert a[mm] == pytest.approx(a[px] * 0.01**power)
    assert a["pixel_size_mm"] == 0.01 and b["pixel_size_mm"] == 0.02
    # the clinical D: 80 px is 0.8 mm at 0.01 and 8 mm at 0.1 mm/px
    assert a["diameter_over_6mm"] is False and measure(m, pixel_size=0.1)["diameter_over_6mm"] is True


def test_no_pixel_size_means_no_mm():
    rec = measure(S.draw(S.disc(20), 60))
    for k in ("area_mm2", "perimeter_mm", "diameter_mm", "equivalent_diameter_mm", "major_axis_mm",
              "minor_axis_mm", "diameter_over_6mm", "pixel_size_mm"):
        assert rec[k] is None, k


@pytest.mark.parametrize("with_image", [False, True])
def test_empty_mask_gives_a_clear_record(with_image):
    m = np.zeros((40, 50), bool)
    img = np.full((40, 50, 3), 180, np.uint8) if with_image else None
    rec = measure(m, img, pixel_size=0.05)
    assert list(rec)[: len(MEASURE_KEYS)] == list(MEASURE_KEYS)
    assert rec["area_px"] == 0 and rec["area_mm2"] == 0.0 and rec["diameter_px"] == 0.0
    assert rec["perimeter_px"] == 0.0 and rec["n_components"] == 0
    for k in ("asymmetry", "asymmetry_axes", "compactness", "solidity", "eccentricity", "border_score",
              "lab_mean_l", "contrast_delta_e"):
        assert rec[k] is None, k
    assert rec["colours"] == [] and rec["n_colours"] == (0 if with_image else None)
    assert rec["diameter_over_6mm"] is False
    json.dumps(rec, allow_nan=False)


def test_record_keys_types_and_json():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (90, 100, 3), dtype=np.uint8)
    rec = measure(S.draw(S.l_shape(60, 50, 20), 100)[:90], img, pixel_size=0.02)
    assert list(rec) == [*MEASURE_KEYS, *EXTRA_KEYS]
    assert list(rec)[:12] == ["area_px", "area_mm2", "perimeter_px", "perimeter_mm", "diameter_px",
                              "diameter_mm", "asymmetry", "asymmetry_axes", "compactness", "solidity",
                              "colours", "n_colours"]
    for k, v in rec.items():
        assert v is None or type(v) in (int, float, bool, str, list), (k, type(v))
    assert type(rec["area_px"]) is int and type(rec["asymmetry_axes"]) is int
    json.dumps(rec, allow_nan=False)


def test_mask_encodings_agree():
    m = S.draw(S.half_disc(30), 80, 10)
    ref = measure(m)
    assert measure(m.astype(np.uint8)) == ref
    assert measure(m.astype(np.uint8) * 255) == ref
    assert measure(m.astype(np.float32)) == ref


@pytest.mark.parametrize("kw, msg", [
    ({"pixel_size": -0.1}, "positive finite"), ({"pixel_size": 0}, "positive finite"),
    ({"pixel_size": float("nan")}, "positive finite"), ({"pixel_size": float("inf")}, "positive finite"),
    ({"pixel_size": "a lot"}, "number"), ({"image": np.zeros((10, 12, 3), np.uint8)}, "mask is 20x10"),
    ({"image": np.zeros((10, 20), np.uint8)}, "RGB"), ({"image": np.zeros((10, 20, 3), np.float32)}, "uint8"),
])
def test_bad_arguments_raise_one_clear_error(kw, msg):
    m = np.zeros((10, 20), bool)
    m[3:6, 4:9] = True
    with pytest.raises(DermasegError, match=msg):
        measure(m, **kw)


def test_mask_must_be_2d():
    with pytest.raises(DermasegError, match="2-D"):
        measure(np.zeros((4, 5, 6, 2), bool))


def _degenerate_masks() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for name in ("pixel", "hline", "vline", "diagonal", "corners", "full", "noise", "left_half"):
        m = np.zeros((30, 40), bool)
        if name == "pixel":
            m[10, 10] = True
        elif name == "hline":
            m[10, 5:30] = True
        elif name == "vline":
            m[3:25, 20] = True
        elif name == "diagonal":
            np.fill_diagonal(m, True)
        elif name == "corners":
            m[0, 0] = m[29, 39] = True
        elif name == "full":
            m[:] = True
        elif name == "noise":
            m = rng.random((30, 40)) > 0.5
        else:
            m[:, :20] = True
        out[name] = m
    return out


@pytest.mark.parametrize("name", sorted(_degenerate_masks()))
def test_degenerate_masks_give_a_record(name):
    m = _degenerate_masks()[name]
    img = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    for image in (None, img):
        rec = measure(m, image, pixel_size=0.1)
        json.dumps(rec, allow_nan=False)
        assert rec["area_px"] == int(m.sum())
        assert 0 <= rec["asymmetry"] < 1 and 0 < rec["solidity"] <= 1
    assert measure(_degenerate_masks()["hline"])["diameter_px"] == 24.0
    assert measure(_degenerate_masks()["corners"])["n_components"] == 2


def test_measure_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from dermaseg.measure import measure; m = np.zeros((20, 20), bool); "
            "m[5:15, 4:12] = True; measure(m, np.zeros((20, 20, 3), np.uint8), pixel_size=0.1); "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_package_is_callable_as_the_issue_documents():
    import numpy as np

    import dermaseg.measure

    m = np.zeros((40, 40), bool)
    m[10:30, 12:28] = True
    assert dermaseg.measure(m, pixel_size=0.1) == dermaseg.measure.measure(m, pixel_size=0.1)
    assert dermaseg.measure(m)["area_px"] == 320
