"""Post-processing: which component is kept (area vs probability mass), hole filling."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.errors import DermasegError
from dermaseg.inference.postprocess import clean_mask


def _two_blobs():
    m = np.zeros((40, 60), bool)
    m[5:25, 5:25] = True  # large, hesitant (400 px at p 0.55)
    m[10:22, 40:52] = True  # smaller, confident (144 px at p 0.99)
    p = np.where(m, 0.55, 0.0).astype(np.float32)
    p[10:22, 40:52] = 0.99
    return m, p


def test_area_rule_keeps_the_largest_blob():
    m, p = _two_blobs()
    out = clean_mask(m, p, "area")
    assert out.sum() == 400 and out[15, 15]


def test_mass_rule_keeps_the_blob_with_most_probability():
    m, p = _two_blobs()
    p[5:25, 5:25] = 0.3  # 400 * 0.3 = 120 < 144 * 0.99
    out = clean_mask(m, p, "mass")
    assert out.sum() == 144 and out[15, 45]


def test_holes_filled_and_bad_rule():
    m = np.zeros((20, 20), bool)
    m[2:18, 2:18] = True
    m[8:12, 8:12] = False
    assert clean_mask(m).sum() == 256
    with pytest.raises(DermasegError):
        clean_mask(m, None, "biggest")
    with pytest.raises(ValueError):
        clean_mask(m, None, "mass")
