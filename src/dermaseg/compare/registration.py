"""Registration of a follow-up image (AFTER) onto the first visit (BEFORE), with OpenCV.

Two steps, both OpenCV's own (nothing hand-written):

1. **Features**: SIFT key points on both images (gray, CLAHE-equalised, ``WORK_SIDE`` px on the longest side),
   Lowe's ratio test (0.75), then a similarity transform (rotation, uniform scale, translation) by
   RANSAC, ``cv2.estimateAffinePartial2D`` (re-projection threshold 3 px at the working size).
2. **Intensity refinement**: ``cv2.findTransformECC`` (enhanced correlation coefficient, Evangelidis &
   Psarakis 2008; zero-mean and normalised, so a global brightness or contrast shift does not bias it)
   started from the feature transform, ``MOTION_AFFINE``, on the pixels both images see. The refinement
   is kept only when it converges, raises the correlation (measured the same way for both, on the
   unfiltered working images) and moves no corner of BEFORE by more than
   ``MAX_REFINE_SHIFT`` of the image's diagonal from the feature transform.

The result's ``matrix`` is the 2×3 affine map of AFTER pixel coordinates (x right, y down) onto BEFORE
pixel coordinates: ``[x_b, y_b]ᵀ = M · [x_a, y_a, 1]ᵀ``. ``ok`` is False, with a ``reason``, when there
are too few RANSAC inliers, the scale is implausible, the images overlap too little or the aligned
images do not correlate (``MIN_*`` below; set from ``benchmarks/compare_repeatability.py``'s simulated
re-acquisitions and unrelated pairs, ``docs/compare.md``). A failed registration is never turned into a
change by :mod:`dermaseg.compare.change`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Registration", "register", "warp_to_before", "valid_region", "corner_error", "WORK_SIDE"]

#: longest side (px) the images are registered at (smaller images are enlarged: SIFT needs the detail);
#: the transform is scaled back to full resolution
WORK_SIDE = 512
RATIO = 0.75
RANSAC_PX = 3.0
MIN_INLIERS = 12
MIN_INLIER_RATIO = 0.25
MIN_ECC = 0.55
MIN_OVERLAP = 0.3
SCALE_RANGE = (0.33, 3.0)
MAX_REFINE_SHIFT = 0.03


@dataclass
class Registration:
    """AFTER -> BEFORE: ``matrix`` 2×3 (module docstring); ``quality`` the numbers ``ok`` was decided on."""

    ok: bool
    matrix: list[list[float]] | None
    method: str
    reason: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)

    @property
    def scale(self) -> float | None:
        """Linear scale of AFTER pixels in BEFORE pixels (sqrt of the determinant)."""
        if self.matrix is None:
            return None
        a = np.asarray(self.matrix, dtype=float)[:, :2]
        return float(math.sqrt(abs(np.linalg.det(a))))

    def to_dict(self) -> dict[str, Any]:
        """The JSON record: ``ok``, ``transform`` (3×3, AFTER -> BEFORE), ``method``, ``reason``, ``quality``."""
        d = asdict(self)
        m = d.pop("matrix")
        d["transform"] = None if m is None else [*m, [0.0, 0.0, 1.0]]
        d["transform_maps"] = "after pixel (x, y, 1) -> before pixel (x, y, 1)"
        return d


def _gray(rgb: np.ndarray) -> tuple[np.ndarray, float]:
    import cv2

    h, w = rgb.shape[:2]
    f = WORK_SIDE / max(h, w)
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if f != 1.0:
        g = cv2.resize(g, (max(2, round(w * f)), max(2, round(h * f))),
                       interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    return g, f


def _content(g: np.ndarray) -> np.ndarray:
    """uint8 mask of pixels that are not the black frame of a dermoscope (or of a warp's empty border)."""
    import cv2

    m = (g > 8).astype(np.uint8) * 255
    return cv2.erode(m, np.ones((7, 7), np.uint8))


def _features(gb: np.ndarray, ga: np.ndarray) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Similarity W (2×3) mapping BEFORE work coords -> AFTER work coords, and the match statistics."""
    import cv2

    sift = cv2.SIFT_create(nfeatures=3000, contrastThreshold=0.01)
    clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))  # dermoscopic skin is smooth: lift texture
    kb, db = sift.detectAndCompute(clahe.apply(gb), _content(gb))
    ka, da = sift.detectAndCompute(clahe.apply(ga), _content(ga))
    q: dict[str, Any] = {"keypoints_before": len(kb), "keypoints_after": len(ka), "matches": 0, "inliers": 0,
                         "inlier_ratio": 0.0}
    if db is None or da is None or len(kb) < 3 or len(ka) < 3:
        return None, q
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(db, da, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    q["matches"] = len(good)
    if len(good) < 3:
        return None, q
    src = np.float32([kb[m.queryIdx].pt for m in good])
    dst = np.float32([ka[m.trainIdx].pt for m in good])
    w, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                         maxIters=5000, confidence=0.999, refineIters=20)
    if w is None or inl is None or abs(np.linalg.det(w[:, :2])) < 1e-6:
        return None, q
    n = int(inl.sum())
    q["inliers"] = n
    q["inlier_ratio"] = round(n / len(good), 4)
    return w.astype(np.float64), q


def _corners(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape[:2]
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def _aligned_corr(gb: np.ndarray, ga: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """(correlation, overlap) of BEFORE and AFTER warped by W (BEFORE -> AFTER, work coords), over the
    pixels both images see; overlap is their share of BEFORE's content."""
    import cv2

    hb, wb = gb.shape
    warped = cv2.warpAffine(ga, w, (wb, hb), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    valid = cv2.warpAffine(_content(ga), w, (wb, hb), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP) > 0
    cb = _content(gb) > 0
    return _corr(gb, warped, valid & cb), float((valid & cb).sum() / max(1, cb.sum()))


def _ecc(gb: np.ndarray, ga: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """ECC refinement of W (BEFORE -> AFTER, work coords), ``MOTION_AFFINE``; None when it fails."""
    import cv2

    hb, wb = gb.shape
    valid = cv2.warpAffine(_content(ga), w, (wb, hb), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    both = ((valid > 0) & (_content(gb) > 0)).astype(np.uint8) * 255
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
    try:
        _, w2 = cv2.findTransformECC(gb.astype(np.float32), ga.astype(np.float32), w.astype(np.float32).copy(),
                                     cv2.MOTION_AFFINE, crit, both, 5)
    except cv2.error:
        return None
    return w2.astype(np.float64)


def _corr(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    """Zero-mean normalised correlation of two gray images over the bool mask ``m`` (0 when empty)."""
    if m.sum() < 100:
        return 0.0
    x = a[m].astype(np.float64)
    y = b[m].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    d = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else 0.0


def _to_full(w: np.ndarray, fb: float, fa: float) -> np.ndarray:
    """W in work coords (BEFORE -> AFTER) -> M in full-resolution coords (AFTER -> BEFORE)."""
    s_b = np.diag([fb, fb, 1.0])
    s_a_inv = np.diag([1 / fa, 1 / fa, 1.0])
    w3 = np.vstack([w, [0, 0, 1]])
    full = s_a_inv @ w3 @ s_b  # before full -> after full
    return np.linalg.inv(full)[:2]


def register(before: np.ndarray, after: np.ndarray) -> Registration:
    """Register RGB ``uint8`` AFTER onto BEFORE (module docstring). Never raises on unrelated images:
    returns ``ok=False`` with the reason."""
    gb, fb = _gray(before)
    ga, fa = _gray(after)
    w, q = _features(gb, ga)
    if w is None or q["inliers"] < MIN_INLIERS or q["inlier_ratio"] < MIN_INLIER_RATIO:
        return Registration(False, None if w is None else _to_full(w, fb, fa).tolist(), "sift+ransac",
                            f"too few consistent feature matches ({q['inliers']} RANSAC inliers of "
                            f"{q['matches']} matches; at least {MIN_INLIERS} and {MIN_INLIER_RATIO:.0%} needed)", q)
    method = "sift+ransac similarity"
    ecc, overlap = _aligned_corr(gb, ga, w)
    q["ecc_features"] = round(ecc, 4)
    w2 = _ecc(gb, ga, w) if overlap > 0 else None
    if w2 is not None:
        shift = float(np.abs(_apply(w2, _corners(gb.shape)) - _apply(w, _corners(gb.shape))).max())
        ecc2, overlap2 = _aligned_corr(gb, ga, w2)
        if ecc2 > ecc + 1e-3 and shift <= MAX_REFINE_SHIFT * math.hypot(*gb.shape) * max(1.0, fa / fb):
            w, ecc, overlap, method = w2, ecc2, overlap2, "sift+ransac similarity, ecc affine refinement"
    m = _to_full(w, fb, fa)
    reg = Registration(True, m.tolist(), method, None, q)
    q.update({"ecc": round(ecc, 4), "overlap": round(overlap, 4), "scale": round(reg.scale or 0.0, 5),
              "rotation_deg": round(math.degrees(math.atan2(m[1, 0], m[0, 0])), 3)})
    s = reg.scale or 0.0
    if not SCALE_RANGE[0] <= s <= SCALE_RANGE[1]:
        reg.ok, reg.reason = False, f"implausible scale {s:.3g} between the visits"
    elif overlap < MIN_OVERLAP:
        reg.ok, reg.reason = False, f"the aligned images overlap on {overlap:.0%} of BEFORE (< {MIN_OVERLAP:.0%})"
    elif ecc < MIN_ECC:
        reg.ok, reg.reason = False, f"the aligned images do not correlate (ECC {ecc:.2f} < {MIN_ECC})"
    return reg


def warp_to_before(after: np.ndarray, matrix: list[list[float]] | np.ndarray, shape: tuple[int, ...],
                   mask: bool = False) -> np.ndarray:
    """AFTER (RGB uint8 or a bool mask) resampled in BEFORE's frame of ``shape`` (H, W, ...); pixels
    outside AFTER are 0 (black / not lesion). Masks are resampled linearly and thresholded at 0.5."""
    import cv2

    m = np.asarray(matrix, dtype=np.float64)[:2]
    h, w = shape[:2]
    if mask:
        f = cv2.warpAffine(np.asarray(after, dtype=np.float32), m, (w, h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return f >= 0.5
    return cv2.warpAffine(after, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(0, 0, 0))


def valid_region(after_shape: tuple[int, ...], matrix: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Bool H×W of BEFORE's pixels that AFTER covers once aligned."""
    return warp_to_before(np.ones(after_shape[:2], dtype=bool), matrix, shape, mask=True)


def corner_error(estimated: Any, truth: Any, before_shape: tuple[int, ...]) -> float:
    """Largest distance (BEFORE pixels) between BEFORE's corners mapped AFTER->BEFORE by ``estimated``
    and by ``truth`` after going BEFORE->AFTER by the inverse of ``truth`` (the registration error the
    benchmark reports): ``max_i |M_est · T⁻¹ · c_i − c_i|``."""
    t = np.vstack([np.asarray(truth, dtype=float)[:2], [0, 0, 1]])
    e = np.vstack([np.asarray(estimated, dtype=float)[:2], [0, 0, 1]])
    c = _corners(before_shape)
    back = _apply((e @ np.linalg.inv(t))[:2], c)
    return float(np.linalg.norm(back - c, axis=1).max())
