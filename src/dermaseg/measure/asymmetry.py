"""Shape and colour asymmetry about the lesion's two principal axes through its centroid.

Shape asymmetry (the fold of Stoecker, Li & Moss 1992, "Automatic detection of asymmetry in skin
tumors", Comput Med Imaging Graph 16(3):191–197): fold the lesion ``M`` over an axis through its
centroid; the asymmetry about that axis is the share of the lesion area that finds no lesion on the
other side,

    a_axis = |M \\ M'| / |M| = |M xor M'| / (2 |M|),        M' = M reflected about the axis,

0 for a shape symmetric about the axis and < 1 always. ``asymmetry`` is the mean of the two axes'
values, ``asymmetry_axes`` (the A score of Stolz's ABCD rule of dermoscopy, 0–2: Stolz et al. 1994,
Eur J Dermatol 4:521–527; Nachbar et al. 1994, J Am Acad Dermatol 30:551–559) counts the axes with
``a_axis > ASYMMETRY_THRESHOLD`` (0.10: one tenth of the lesion has no mirror partner; dermaseg's
choice, not a published calibration; the clinical A score also weighs colours and structures).

The axes are the principal axes of the mask (eigenvectors of the covariance of its pixel coordinates,
through the centroid). The reflection is done with sub-pixel accuracy and without favouring the pixel
grid: the mask is resampled (OpenCV ``warpAffine``, bilinear, boundary at the 0.5 level) into a
``CANONICAL_SIZE``² frame centred on the centroid with the major axis along the frame's x axis and the
lesion's farthest pixel ~``CANONICAL_SIZE / 2 - 2`` frame pixels from the centre; there, both
reflections are exact flips of the frame (rows: about the major axis; columns: about the minor axis).
So the answer does not depend on the lesion's rotation in the image (tested within 2 % at 30° and 45°)
nor, beyond the digitisation of the mask, on its size.

When the principal axes are undefined (a disc, a square, any regular polygon: the covariance's
eigenvalues agree, ``anisotropy < ISOTROPY_TOL``), the pair of perpendicular axes through the centroid
with the lowest mean asymmetry is used instead (a 5° grid over 0–90° in a half-size frame, then 1°
steps within ±4° of the best), which is how the
ABCD rule places its axes; the "major" axis is then the first of that pair.

Colour asymmetry: for each axis, the CIE76 colour difference ΔE*ab between the mean CIELAB colour of
the lesion pixels on either side of it (pixels on the axis line belong to neither); ``colour_asymmetry``
is the larger of the two (ΔE*ab ≈ 2.3 is a just-noticeable difference: Sharma 2003, Digital Color
Imaging Handbook). ``None`` without an image or when one side is empty.

Colour-distribution asymmetry (``measure_version`` 2): dermatologists score the A of the ABCD rule on
contour, colours *and* structures about two perpendicular axes (Stolz et al. 1994; Argenziano et al.
2003). For each axis, the lesion pixels' colour classes (the six colours and skin of
:mod:`dermaseg.measure.colour`) are counted on either side, and the asymmetry is the total-variation
distance between the two sides' class distributions,

    c_axis = ½ Σ_k |p_k − q_k|        (p, q: the two halves' shares of class k),

0 when both halves hold the same mix of colours, 1 when they share none (``None`` when a half is
empty). ``colour_dist_asymmetry`` is the mean of the two axes.

Combined score and grade: ``asymmetry_score = ½ Σ_axes (a_axis + w · c_axis)`` with the weight ``w``
and the grade (0/1/2, the experts' scale: symmetric, asymmetric about one axis, about two)
``asymmetry_grade = #{cuts[j] < asymmetry_score}`` from the cut points ``cuts`` — both in
``rules.json`` (:mod:`dermaseg.measure.rules`), chosen by cross-validation against PH2's
dermatologists to maximise the quadratic-weighted kappa (docs/measurements.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dermaseg.measure.geometry import Geometry

__all__ = [
    "ASYMMETRY_THRESHOLD",
    "ISOTROPY_TOL",
    "CANONICAL_SIZE",
    "Asymmetry",
    "shape_asymmetry",
    "colour_asymmetry",
    "colour_distribution_asymmetry",
    "combined_asymmetry",
]

ASYMMETRY_THRESHOLD = 0.10
ISOTROPY_TOL = 0.02
CANONICAL_SIZE = 256


@dataclass(frozen=True)
class Asymmetry:
    """Shape asymmetry about the two axes (``major``: reflection about the major axis) and the axis
    actually used (unit (x, y) vector in image coordinates); ``searched`` when the principal axes were
    undefined and the most symmetric pair was searched for."""

    major: float
    minor: float
    axis: tuple[float, float]
    searched: bool

    @property
    def mean(self) -> float:
        return 0.5 * (self.major + self.minor)

    @property
    def n_axes(self) -> int:
        return int(self.major > ASYMMETRY_THRESHOLD) + int(self.minor > ASYMMETRY_THRESHOLD)


def _canonical(mask_f32: np.ndarray, centre: tuple[float, float], u: np.ndarray, radius: float,
               size: int = CANONICAL_SIZE) -> np.ndarray:
    """The mask resampled into a size×size frame: centroid at the frame centre, ``u`` along +x."""
    import cv2

    s = (size / 2.0 - 2.0) / max(radius + 1.0, 1.0)
    v = np.array([-u[1], u[0]])
    half = (size - 1) / 2.0
    cx, cy = centre
    m = np.array([[s * u[0], s * u[1], half - s * (u[0] * cx + u[1] * cy)],
                  [s * v[0], s * v[1], half - s * (v[0] * cx + v[1] * cy)]], dtype=np.float64)
    out = cv2.warpAffine(mask_f32, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=0)
    return out > 0.5


def _fold(frame: np.ndarray) -> tuple[float, float]:
    n = int(frame.sum())
    if n == 0:
        return 0.0, 0.0
    about_major = int((frame & ~frame[::-1, :]).sum()) / n
    about_minor = int((frame & ~frame[:, ::-1]).sum()) / n
    return about_major, about_minor


def _rot(u: np.ndarray, deg: float) -> np.ndarray:
    t = math.radians(deg)
    c, s = math.cos(t), math.sin(t)
    return np.array([c * u[0] - s * u[1], s * u[0] + c * u[1]])


def shape_asymmetry(mask: np.ndarray, geom: Geometry) -> Asymmetry | None:
    """Shape asymmetry of a ``bool`` H×W mask about its principal axes (module docstring); ``None`` for
    an empty mask. ``geom`` is the mask's :func:`~dermaseg.measure.geometry.geometry`."""
    if geom.area_px == 0 or geom.centroid is None or geom.major_axis_vector is None:
        return None
    # crop around the lesion so the resampling reads a small array
    cx, cy = geom.centroid
    r = geom.max_radius_px + 3.0
    x0, y0 = max(int(math.floor(cx - r)), 0), max(int(math.floor(cy - r)), 0)
    x1, y1 = min(int(math.ceil(cx + r)) + 1, mask.shape[1]), min(int(math.ceil(cy + r)) + 1, mask.shape[0])
    crop = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.float32)
    centre = (cx - x0, cy - y0)
    u = np.asarray(geom.major_axis_vector, dtype=np.float64)
    if geom.anisotropy is not None and geom.anisotropy >= ISOTROPY_TOL:
        a_major, a_minor = _fold(_canonical(crop, centre, u, geom.max_radius_px))
        return Asymmetry(a_major, a_minor, (float(u[0]), float(u[1])), searched=False)
    base = np.array([1.0, 0.0])

    def total(deg: float, size: int) -> float:
        return sum(_fold(_canonical(crop, centre, _rot(base, deg), geom.max_radius_px, size)))

    coarse = {float(d): total(d, CANONICAL_SIZE // 2) for d in np.arange(0.0, 90.0, 5.0)}
    start = min(coarse, key=lambda d: (coarse[d], d))
    fine = {float(d % 90.0): total(d % 90.0, CANONICAL_SIZE) for d in np.arange(start - 4.0, start + 4.5, 1.0)}
    best = min(fine, key=lambda d: (fine[d], d))
    ax = _rot(base, best)
    a_major, a_minor = _fold(_canonical(crop, centre, ax, geom.max_radius_px))
    return Asymmetry(a_major, a_minor, (float(ax[0]), float(ax[1])), searched=True)


def colour_asymmetry(lab: np.ndarray, ys: np.ndarray, xs: np.ndarray, centroid: tuple[float, float],
                     axis: tuple[float, float]) -> tuple[float | None, float | None]:
    """ΔE*ab between the mean CIELAB colours of the two halves of the lesion, about the major axis and
    about the minor axis. ``lab`` N×3 (the lesion pixels' L*a*b*), ``ys``/``xs`` their rows/columns;
    a value is ``None`` when one half has no pixel."""
    ux, uy = axis
    dx, dy = xs - centroid[0], ys - centroid[1]
    along = dx * ux + dy * uy  # signed distance across the minor axis
    across = -dx * uy + dy * ux  # signed distance across the major axis
    out: list[float | None] = []
    for side in (across, along):
        pos, neg = side > 1e-9, side < -1e-9
        if not pos.any() or not neg.any():
            out.append(None)
            continue
        out.append(float(np.linalg.norm(lab[pos].mean(axis=0) - lab[neg].mean(axis=0))))
    return out[0], out[1]


def _halves(ys: np.ndarray, xs: np.ndarray, centroid: tuple[float, float], axis: tuple[float, float]
            ) -> list[tuple[np.ndarray, np.ndarray]]:
    ux, uy = axis
    dx, dy = xs - centroid[0], ys - centroid[1]
    along = dx * ux + dy * uy
    across = -dx * uy + dy * ux
    return [(side > 1e-9, side < -1e-9) for side in (across, along)]


def colour_distribution_asymmetry(labels: np.ndarray, ys: np.ndarray, xs: np.ndarray,
                                  centroid: tuple[float, float], axis: tuple[float, float], n_classes: int = 7
                                  ) -> tuple[float | None, float | None]:
    """Total-variation distance between the colour-class distributions of the two halves (module
    docstring), about the major axis and about the minor axis; ``labels`` N ints in ``[0, n_classes)``."""
    out: list[float | None] = []
    for pos, neg in _halves(ys, xs, centroid, axis):
        if not pos.any() or not neg.any():
            out.append(None)
            continue
        p = np.bincount(labels[pos], minlength=n_classes) / float(pos.sum())
        q = np.bincount(labels[neg], minlength=n_classes) / float(neg.sum())
        out.append(float(0.5 * np.abs(p - q).sum()))
    return out[0], out[1]


def combined_asymmetry(shape_major: float, shape_minor: float, colour_major: float | None,
                       colour_minor: float | None, weight: float, cuts: tuple[float, float]
                       ) -> tuple[float, int]:
    """``(asymmetry_score, asymmetry_grade)`` (module docstring); a missing colour value counts 0."""
    score = 0.5 * (shape_major + shape_minor + weight * ((colour_major or 0.0) + (colour_minor or 0.0)))
    return float(score), int(sum(score > c for c in cuts))
