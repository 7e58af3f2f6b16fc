"""Post-processing of the binary mask: largest component, hole filling, on hand-made masks."""

from __future__ import annotations

import numpy as np

from dermaseg.inference.postprocess import clean_mask, fill_holes, largest_component


def test_postprocess_hand_made():
    m = np.zeros((10, 12), bool)
    m[1:6, 1:6] = True
    m[3, 3] = False  # a hole
    m[8:10, 9:12] = True  # a smaller second blob
    lc = largest_component(m)
    assert lc.sum() == 24 and not lc[8:, 9:].any()
    assert fill_holes(lc)[3, 3] and clean_mask(m).sum() == 25
    assert not clean_mask(np.zeros((4, 4), bool)).any()
