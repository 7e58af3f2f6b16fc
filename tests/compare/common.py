"""Shared helpers of the compare tests: a real PH2 image with its dermatologists' mask, and growth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dermaseg.io import read_image, read_mask

#: mm per pixel given to the PH2 images in these tests (PH2's own is not published per image)
PIXEL_SIZE = 0.02


def ph2(shared_data: Path, stem: str = "IMD008") -> tuple[np.ndarray, np.ndarray]:
    """A real PH2 image (RGB uint8) and its dermatologists' lesion mask (bool)."""
    d = shared_data / "ph2_dev"
    return read_image(d / "images" / f"{stem}.jpg"), read_mask(d / "masks" / f"{stem}_lesion.png")


def grow(rgb: np.ndarray, mask: np.ndarray, radius_px: int) -> tuple[np.ndarray, np.ndarray]:
    """The lesion grown by ``radius_px``: the mask dilated by a disc, and the pixels of the new ring taken
    from the darkest pixel within ``radius_px`` (a grey-level erosion: the pigment spreads outwards)."""
    import cv2

    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))
    grown = cv2.dilate(mask.astype(np.uint8), k) > 0
    dark = cv2.erode(rgb, k)
    out = rgb.copy()
    ring = grown & ~mask
    out[ring] = dark[ring]
    return out, grown
