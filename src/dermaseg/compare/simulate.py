"""Simulated re-acquisitions of a dermoscopic image: the same lesion, photographed again.

:func:`reacquire` draws, from one seeded generator, what changes between two photographs of an unchanged
lesion: a rotation (any angle), a scale of 0.8–1.25 (the dermatoscope's distance / zoom), a translation
(up to 10 % of the image), a crop (up to 10 % off each side: a smaller image), an illumination change
(gain 0.8–1.2, gamma 0.8–1.25, a vignette of up to 20 %), a white-balance shift (per-channel gains
0.9–1.1) and JPEG compression (quality 60–95). Pixels the new view does not see are black, as a
dermoscope's frame. It returns the new image, the lesion mask carried along (when given) and the true
2×3 map of the new image's pixels onto the original's, the quantity :func:`~dermaseg.compare.registration.register`
estimates. Used by ``benchmarks/compare_repeatability.py`` (the thresholds) and by the tests.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Reacquisition", "reacquire"]


@dataclass
class Reacquisition:
    """``image`` RGB uint8; ``mask`` bool (or None); ``matrix`` 2×3 new -> original pixels; ``params``."""

    image: np.ndarray
    mask: np.ndarray | None
    matrix: np.ndarray
    params: dict[str, Any]


def reacquire(rgb: np.ndarray, mask: np.ndarray | None = None, seed: int = 0, *, rotation: float | None = None,
              scale_range: tuple[float, float] = (0.8, 1.25), photometric: bool = True,
              jpeg: bool = True) -> Reacquisition:
    """A simulated second photograph of ``rgb`` (module docstring). ``rotation`` fixes the angle (degrees)."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = rgb.shape[:2]
    angle = float(rng.uniform(-180, 180)) if rotation is None else float(rotation)
    lo, hi = scale_range
    scale = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    tx, ty = (float(v) for v in rng.uniform(-0.1, 0.1, 2) * (w, h))
    # original -> new: rotate and scale about the centre, translate
    a = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    a[:, 2] += (tx, ty)
    crop = rng.uniform(0, 0.1, 4)  # left, top, right, bottom fractions cut off: a smaller field of view
    x0, y0 = int(crop[0] * w), int(crop[1] * h)
    cw, ch = w - x0 - int(crop[2] * w), h - y0 - int(crop[3] * h)
    full = np.vstack([a, [0, 0, 1]])
    full[:2, 2] -= (x0, y0)  # original -> new, 3×3
    img = cv2.warpAffine(rgb, full[:2], (cw, ch), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    new_mask = None
    if mask is not None:
        new_mask = cv2.warpAffine(np.asarray(mask, np.float32), full[:2], (cw, ch), flags=cv2.INTER_LINEAR) >= 0.5
    params: dict[str, Any] = {"rotation_deg": angle, "scale": scale, "tx": tx, "ty": ty,
                              "crop": [float(v) for v in crop], "size": [cw, ch]}
    if photometric:
        f = img.astype(np.float32) / 255.0
        gain, gamma = float(rng.uniform(0.8, 1.2)), float(math.exp(rng.uniform(math.log(0.8), math.log(1.25))))
        wb = rng.uniform(0.9, 1.1, 3).astype(np.float32)
        vig = float(rng.uniform(0, 0.2))
        yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
        r2 = ((xx - cw / 2) / (cw / 2)) ** 2 + ((yy - ch / 2) / (ch / 2)) ** 2
        f = np.clip(f ** gamma * gain * wb * (1 - vig * r2 / 2)[..., None], 0, 1)
        img = (f * 255 + 0.5).astype(np.uint8)
        params.update({"gain": gain, "gamma": gamma, "white_balance": [float(v) for v in wb], "vignette": vig})
    if jpeg:
        q = int(rng.integers(60, 96))
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=q)
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        params["jpeg_quality"] = q
    inv = np.linalg.inv(full)[:2]
    return Reacquisition(np.ascontiguousarray(img), new_mask, inv, params)
