"""Synthetic generator: deterministic, dermoscopy-like, and every layout written with its real names."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.synthetic import LAYOUTS, make_image, write_dataset


def test_make_image_deterministic_and_plausible():
    rgb, mask = make_image(64, 96, seed=3)
    rgb2, mask2 = make_image(64, 96, seed=3)
    assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
    assert mask.shape == (64, 96) and mask.dtype == bool
    assert np.array_equal(rgb, rgb2) and np.array_equal(mask, mask2)
    assert 0.03 < mask.mean() < 0.6
    # lesion darker than the skin around it
    assert rgb[mask].mean() < rgb[~mask].mean() - 20
    assert not np.array_equal(make_image(64, 96, seed=4)[1], mask)


def test_hairs_change_pixels_not_mask():
    rgb, mask = make_image(64, 96, seed=1)
    rgbh, maskh = make_image(64, 96, seed=1, hairs=True)
    assert np.array_equal(mask, maskh)
    assert (rgb != rgbh).any(axis=2).sum() > 20


@pytest.mark.parametrize("layout", LAYOUTS)
def test_write_dataset_layouts(tmp_path, layout):
    root = write_dataset(tmp_path / layout, layout, n=6, size=(48, 64))
    files = [p for p in root.rglob("*") if p.is_file()]
    assert len(files) >= 12
    expected = {
        "folder": "images/case_000.jpg",
        "ham10000": "HAM10000_segmentations_lesion_tschandl/ISIC_0024306_segmentation.png",
        "isic2016": "ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_0000000_Segmentation.png",
        "isic2017": "ISIC-2017_Validation_Part1_GroundTruth/ISIC_0000002_segmentation.png",
        "isic2018": "ISIC2018_Task1_Test_GroundTruth/ISIC_0000004_segmentation.png",
        "ph2": "PH2 Dataset images/IMD002/IMD002_lesion/IMD002_lesion.bmp",
    }[layout]
    assert (root / expected).is_file()
