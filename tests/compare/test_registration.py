"""Registration: known transforms recovered, unrelated images refused (and never called a change)."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.compare.registration import corner_error, register, warp_to_before
from dermaseg.compare.run import compare_arrays
from dermaseg.compare.simulate import reacquire
from tests.compare.common import ph2

#: tolerance of a recovered transform: the benchmark's 95th-percentile corner error is about 2 px
TOL_PX = 4.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_transforms_are_recovered(shared_data, seed):
    rgb, _ = ph2(shared_data, ["IMD008", "IMD016", "IMD002"][seed])
    view = reacquire(rgb, seed=seed)  # rotation, scale, shift, crop, light, white balance, JPEG
    reg = register(rgb, view.image)
    assert reg.ok, reg.reason
    assert corner_error(reg.matrix, view.matrix, rgb.shape) < TOL_PX
    true_scale = float(np.sqrt(abs(np.linalg.det(view.matrix[:, :2]))))
    assert reg.scale == pytest.approx(true_scale, rel=0.01)
    assert reg.quality["inliers"] >= 12 and reg.quality["ecc"] > 0.9


def test_pure_rotation_by_hand():
    """A 90° turn of a bundled sample, built by hand with np.rot90: the transform is exact and known."""
    from dermaseg.io import read_image
    from dermaseg.models.default import ASSET_DIR

    rgb = read_image(ASSET_DIR.parent / "samples" / "ISIC_0012143.jpg")
    h, w = rgb.shape[:2]
    after = np.ascontiguousarray(np.rot90(rgb))  # after[y', x'] = before[x', w-1-y']: (x', y') -> (w-1-y', x')
    reg = register(rgb, after)
    assert reg.ok, reg.reason
    truth = np.array([[0.0, -1.0, w - 1.0], [1.0, 0.0, 0.0]])
    assert np.abs(np.asarray(reg.matrix) - truth)[:, :2].max() < 0.02
    assert corner_error(reg.matrix, truth, rgb.shape) < 2.0
    back = warp_to_before(after, reg.matrix, rgb.shape)
    assert np.abs(back[5:-5, 5:-5].astype(int) - rgb[5:-5, 5:-5]).mean() < 6


def test_unrelated_images_fail_and_are_not_a_change(shared_data):
    a, ma = ph2(shared_data, "IMD008")
    b, mb = ph2(shared_data, "IMD016")
    reg = register(a, b)
    assert not reg.ok and "feature matches" in reg.reason
    rec, arrays = compare_arrays(a, b, ma, mb)
    assert rec["status"] == "registration_failed"
    assert rec["changed"] is False and rec["exceeded"] == []
    assert rec["registration"]["ok"] is False and rec["registration"]["reason"]
    assert all(rec["change"][k] is None for k in ("area_pct", "area_mm2", "diameter_mm", "asymmetry", "dice"))
    assert "after_aligned" not in arrays
    assert rec["before"]["area_px"] == int(ma.sum())  # each visit is still measured
