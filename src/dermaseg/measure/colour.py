"""Colour of a lesion: which of the six dermoscopic colours it shows, its CIELAB mean and spread, and
its contrast to the surrounding skin.

Colours are compared in CIELAB (D65 white, the sRGB primaries and transfer curve; OpenCV ``cvtColor``
on float RGB in [0, 1], within 0.5 units of scikit-image's exact ``rgb2lab``), where a Euclidean
distance is the CIE76 colour difference ΔE*ab.

**The six colours** are those of the C score of Stolz's ABCD rule of dermoscopy (Stolz et al. 1994,
Eur J Dermatol 4:521–527; white, red, light brown, dark brown, blue-grey, black; Argenziano et al.
2003, J Am Acad Dermatol 48:679–693, for their meaning). The ABCD rule names them but publishes no
colorimetric values, so the reference colours (``REFERENCE_LAB``) are dermaseg's: typical renderings of
each colour in dermoscopic photographs (``REFERENCE_SRGB``), placed against the CIELAB distribution of
the 150 ISIC 2017 validation lesions (lesion pixels: L* 41 / 52 / 61 at the quartiles, a* 17, b* 18 at
the median; their surrounding skin: L* 65, a* 11, b* 13). They are not calibrated against expert colour
annotations.

**Rule** (``measure_version`` 2). Every lesion pixel is assigned to the nearest of the six references, or
to *skin* when the surrounding skin's own colour (median L*a*b* of the skin ring below) is nearer than
all six: the lesion's colours are judged relative to the patient's skin under the same light, after the
relative-colour approach of Stanley, Stoecker & Moss 2007 (Skin Res Technol 13:62–72). Colour ``c`` is
present when its share of the lesion pixels exceeds its own minimum share ``min_share[c]``
(``rules.json``, :mod:`dermaseg.measure.rules`), chosen per colour to maximise the balanced accuracy
against PH2's dermatologists, by cross-validation (docs/measurements.md; version 1 used one 5 % for
every colour). Per-colour Gaussian models (a σ per colour, the skin ring as a seventh class) were
measured too and did worse in cross-validation (docs/measurements.md), so the decision is the
per-colour share threshold on the nearest-prototype shares.

**Illumination.** ``constancy="shades_of_gray"`` first applies Shades of Gray (Finlayson & Trezzi 2004,
Color Imaging Conf.; p = 6, as Barata, Celebi & Marques 2015, IEEE J Biomed Health Inform 19:1146–1152,
use for dermoscopy) to the whole image, in linear RGB: ``e_k = (mean I_k^p)^(1/p)``, ``I'_k = I_k ·
ē / e_k`` with ``ē`` the mean of the three ``e_k``. The shipped default (``rules.json``) is the one the
cross-validation chose (docs/measurements.md gives both). When none reaches that share (a
lesion of skin colour), the lesion has one colour: the reference nearest its median L*a*b*. So
``n_colours`` is 1–6 for every non-empty lesion with an image, 0 for an empty mask, ``None`` without
an image.

**Skin ring.** The pixels outside the lesion within ``ring_width = max(3 px, 0.10 × equivalent
diameter)`` of it (Euclidean distance transform). ``contrast_delta_e`` is the ΔE*ab between the
lesion's and the ring's median colours, ``contrast_lightness`` = ring median L* − lesion median L*
(positive: the lesion is darker). Medians, so hairs and small artefacts do not move them. ``None`` when
the lesion leaves fewer than ``MIN_RING_PIXELS`` pixels around it (it fills the image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError
from dermaseg.measure.rules import rules

__all__ = [
    "COLOUR_NAMES",
    "REFERENCE_LAB",
    "REFERENCE_SRGB",
    "MIN_SHARE",
    "SOG_P",
    "min_shares",
    "shades_of_gray",
    "MIN_RING_PIXELS",
    "ColourContext",
    "as_image",
    "rgb_to_lab",
    "colour_context",
    "colour_features",
]

COLOUR_NAMES = ("white", "red", "light brown", "dark brown", "blue-grey", "black")
#: reference colours, CIELAB (D65): L* in [0, 100], a* (green -> red), b* (blue -> yellow)
REFERENCE_LAB: dict[str, tuple[float, float, float]] = {
    "white": (92.0, 1.0, 2.0),
    "red": (49.0, 52.0, 23.0),
    "light brown": (53.0, 16.0, 27.0),
    "dark brown": (28.0, 14.0, 18.0),
    "blue-grey": (51.0, 0.0, -11.0),
    "black": (12.0, 2.0, 1.0),
}
#: sRGB colours whose CIELAB is within 1 ΔE*ab of ``REFERENCE_LAB`` (for drawing them)
REFERENCE_SRGB: dict[str, tuple[int, int, int]] = {
    "white": (235, 230, 228),
    "red": (200, 70, 80),
    "light brown": (165, 115, 80),
    "dark brown": (95, 58, 40),
    "blue-grey": (110, 122, 140),
    "black": (35, 30, 30),
}
#: version 1's single minimum share (the per-colour ones of version 2 are in rules.json)
MIN_SHARE = 0.05
SOG_P = 6
MIN_RING_PIXELS = 20
RING_FRACTION = 0.10
RING_MIN_PX = 3.0
CHUNK = 1 << 20


def as_image(image: Any, shape: tuple[int, int]) -> np.ndarray:
    """Check an RGB image against the mask's H×W: ``uint8`` H×W×3 (an alpha channel is dropped).
    Anything else -> :class:`DermasegError` saying what was expected."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise DermasegError(f"image must be an RGB H×W×3 array, got shape {a.shape}")
    if a.dtype != np.uint8:
        raise DermasegError(f"image must be uint8 RGB, got {a.dtype}")
    if a.shape[:2] != tuple(shape):
        raise DermasegError(f"image is {a.shape[1]}x{a.shape[0]} but the mask is {shape[1]}x{shape[0]} "
                            "(width x height)")
    return a


def min_shares() -> dict[str, float]:
    """Each colour's minimum share (``rules.json``)."""
    return {n: float(rules()["colour"]["min_share"][n]) for n in COLOUR_NAMES}


def shades_of_gray(rgb: np.ndarray, p: float = SOG_P) -> np.ndarray:
    """Shades of Gray colour constancy (module docstring): ``uint8`` H×W×3 -> ``uint8`` H×W×3, in linear
    sRGB; the image's p-norm illuminant estimate is mapped to grey of the same mean level."""
    f = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(f <= 0.04045, f / 12.92, ((f + 0.055) / 1.055) ** 2.4)
    e = np.power(np.mean(np.power(lin.reshape(-1, 3), p), axis=0), 1.0 / p)
    if not np.all(e > 0):
        return np.asarray(rgb, dtype=np.uint8).copy()
    lin = np.clip(lin * (e.mean() / e), 0.0, 1.0)
    out = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``uint8`` (..., 3) -> CIELAB float32 (..., 3) (D65; OpenCV)."""
    import cv2

    a = np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 1, 3) * np.float32(1.0 / 255.0)
    return cv2.cvtColor(a, cv2.COLOR_RGB2Lab).reshape(np.shape(rgb)[:-1] + (3,))


@dataclass
class ColourContext:
    """The lesion's neighbourhood, cropped: ``lab`` h×w×3, ``mask`` h×w bool, ``d_in`` (inside: distance
    to the nearest non-lesion pixel), ``d_out`` (outside: distance to the nearest lesion pixel), both
    float32 h×w in pixels; ``x0, y0`` the crop's offset in the image; ``ring`` bool h×w."""

    lab: np.ndarray
    mask: np.ndarray
    d_in: np.ndarray
    d_out: np.ndarray
    x0: int
    y0: int
    ring: np.ndarray
    ring_width: float


def colour_context(image: np.ndarray, mask: np.ndarray, equivalent_diameter: float,
                   margin: float = 0.0) -> ColourContext:
    """Crop the image around a non-empty lesion (ring width + ``margin`` + 2 px on every side), convert
    it to CIELAB and compute both distance transforms (OpenCV, exact Euclidean)."""
    import cv2

    ring_w = max(RING_MIN_PX, RING_FRACTION * equivalent_diameter)
    pad = int(math.ceil(ring_w + margin)) + 2
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, mask.shape[0])
    x0, x1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, mask.shape[1])
    m = mask[y0:y1, x0:x1]
    lab = rgb_to_lab(image[y0:y1, x0:x1])
    m8 = m.astype(np.uint8)
    d_in = cv2.distanceTransform(m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    d_out = cv2.distanceTransform(1 - m8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ring = (~m) & (d_out <= ring_w)
    return ColourContext(lab=lab, mask=m, d_in=d_in, d_out=d_out, x0=int(x0), y0=int(y0), ring=ring,
                         ring_width=float(ring_w))


def colour_features(ctx: ColourContext, labels_out: list | None = None) -> dict[str, Any]:
    """The colour part of a record (module docstring) from a :func:`colour_context`. When
    ``labels_out`` is a list, the lesion pixels' classes (N ints: 0–5 the colours in ``COLOUR_NAMES``
    order, 6 skin; ``ctx.mask`` order) are appended to it."""
    lesion = ctx.lab[ctx.mask]  # N×3 float32
    ring = ctx.lab[ctx.ring]
    refs = np.array([REFERENCE_LAB[n] for n in COLOUR_NAMES], dtype=np.float32)  # 6×3
    skin = np.median(ring, axis=0) if len(ring) >= MIN_RING_PIXELS else None
    protos = refs if skin is None else np.vstack([refs, skin[None].astype(np.float32)])
    # nearest prototype per pixel (scipy cdist; in chunks so memory stays O(chunk × K))
    from scipy.spatial.distance import cdist

    nearest = np.concatenate([cdist(lesion[i:i + CHUNK], protos, "sqeuclidean").argmin(axis=1)
                              for i in range(0, len(lesion), CHUNK)])
    if labels_out is not None:
        labels_out.append(nearest)
    counts = np.bincount(nearest, minlength=len(protos))[: len(COLOUR_NAMES)]
    shares = counts / float(len(lesion))
    thr = min_shares()
    present = [n for n, s in zip(COLOUR_NAMES, shares, strict=True) if s > thr[n]]
    med = np.median(lesion, axis=0)
    if not present:
        present = [COLOUR_NAMES[int(((refs - med) ** 2).sum(axis=1).argmin())]]
    mean, std = lesion.mean(axis=0, dtype=np.float64), lesion.std(axis=0, dtype=np.float64)
    out: dict[str, Any] = {"colours": present, "n_colours": len(present)}
    out.update({f"lab_mean_{c}": float(v) for c, v in zip("lab", mean, strict=True)})
    out.update({f"lab_std_{c}": float(v) for c, v in zip("lab", std, strict=True)})
    if skin is None:
        out.update({"skin_lab_l": None, "skin_lab_a": None, "skin_lab_b": None, "contrast_delta_e": None,
                    "contrast_lightness": None})
    else:
        out.update({f"skin_lab_{c}": float(v) for c, v in zip("lab", skin, strict=True)})
        out["contrast_delta_e"] = float(np.linalg.norm(skin.astype(np.float64) - med))
        out["contrast_lightness"] = float(skin[0] - med[0])
    out.update({f"share_{n.replace(' ', '_').replace('-', '_')}": float(s)
                for n, s in zip(COLOUR_NAMES, shares, strict=True)})
    return out
