"""The change between two visits of one lesion, and the one rule that calls it a change.

Inputs: both RGB images, both lesion masks (each at its own image's size), the
:class:`~dermaseg.compare.registration.Registration` of AFTER onto BEFORE and the pixel sizes.

- ``before`` and ``after`` are :func:`dermaseg.measure` records of each image with its own mask and its
  own pixel size (nothing resampled), the columns of ``dermaseg measure``.
- Relative changes need both lesions in one scale: with both pixel sizes, millimetres; otherwise the
  registration's scale (AFTER pixels -> BEFORE pixels). One pixel size given: the other is derived from
  the registration (``pixel_size_after = pixel_size_before × scale``) and said so in ``warnings``.
- ``change``: ``area_mm2`` and ``diameter_mm`` (AFTER − BEFORE; ``None`` without a pixel size),
  ``area_pct`` and ``diameter_pct`` (AFTER / BEFORE − 1, in %), ``asymmetry`` and ``border``
  (``asymmetry`` and ``border_score`` differences), ``colours_gained``/``colours_lost`` (names; ``colours_changed`` their count),
  ``dice`` (overlap of BEFORE's mask and AFTER's aligned mask), ``grown_*`` and ``shrunk_*`` (the
  aligned AFTER lesion outside BEFORE's, and BEFORE's outside AFTER's: px in BEFORE's frame, mm², and %
  of BEFORE's area).
- ``changed`` is True only when the registration is ``ok``, both lesions are whole in view and at least
  one change lies outside its repeatability limit (``thresholds``: the 95 % limits of agreement of
  re-acquisitions of unchanged lesions, :mod:`dermaseg.compare.thresholds`); ``exceeded`` names them.
  A failed registration gives ``status`` ``registration_failed``, ``changed`` False and no changes: it
  is never turned into a change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermaseg.compare.registration import Registration, valid_region, warp_to_before
from dermaseg.measure import measure

__all__ = ["ChangeResult", "compute_change", "exceeded_limits", "STATUSES"]

STATUSES = ("compared", "registration_failed", "lesion_not_in_view", "empty_mask")
#: a lesion closer than this (px) to its image's edge, or to the edge of what AFTER sees, is cut off
EDGE_PX = 2


@dataclass
class ChangeResult:
    """``record``: the compare.json fields this module owns; ``arrays``: the images the report draws
    (``after_aligned`` RGB, ``after_aligned_mask``, ``grown``, ``shrunk``, ``valid``; BEFORE's frame)."""

    record: dict[str, Any]
    arrays: dict[str, np.ndarray]


def _touches_edge(mask: np.ndarray, frame: np.ndarray | None = None) -> bool:
    """True when ``mask`` comes within ``EDGE_PX`` of the image border (or of the edge of ``frame``)."""
    import cv2

    inside = np.ones(mask.shape, np.uint8) if frame is None else frame.astype(np.uint8)
    k = np.ones((2 * EDGE_PX + 1, 2 * EDGE_PX + 1), np.uint8)
    core = cv2.erode(inside, k, borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
    return bool((mask & ~core).any())


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else float(b - a)


def _pct(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before <= 0:
        return None
    return float(100.0 * (after / before - 1.0))


def _r(v: float | None, nd: int = 4) -> float | None:
    return None if v is None or not math.isfinite(v) else round(float(v), nd)


def compute_change(before_rgb: np.ndarray, after_rgb: np.ndarray, before_mask: np.ndarray,
                   after_mask: np.ndarray, reg: Registration, thresholds: dict[str, Any],
                   pixel_size_before: float | None = None, pixel_size_after: float | None = None,
                   ) -> ChangeResult:
    """Measure both visits and their change (module docstring). Masks are bool H×W of their images."""
    warnings: list[str] = []
    ps_b, ps_a = pixel_size_before, pixel_size_after
    scale = reg.scale if reg.ok else None
    if scale is not None and (ps_b is None) != (ps_a is None):
        if ps_a is None:
            ps_a = ps_b * scale
            warnings.append(f"pixel size of AFTER derived from the registration: {ps_a:.6g} mm")
        else:
            ps_b = ps_a / scale
            warnings.append(f"pixel size of BEFORE derived from the registration: {ps_b:.6g} mm")
    if scale is not None and ps_b is not None and ps_a is not None and pixel_size_before and pixel_size_after:
        if abs((ps_a / ps_b) / scale - 1.0) > 0.1:  # one AFTER pixel is `scale` BEFORE pixels
            warnings.append(f"the pixel sizes say AFTER's pixels are {ps_a / ps_b:.3g}x BEFORE's; the "
                            f"registration says {scale:.3g}x: check the calibration of both images")
    before = measure(before_mask, before_rgb, ps_b)
    after = measure(after_mask, after_rgb, ps_a)
    rec: dict[str, Any] = {"before": before, "after": after, "pixel_size_before": ps_b, "pixel_size_after": ps_a}
    arrays: dict[str, np.ndarray] = {}
    status = "compared"
    if not reg.ok:
        status = "registration_failed"
    elif before["area_px"] == 0 or after["area_px"] == 0:
        status = "empty_mask"
    change: dict[str, Any] | None = None
    if reg.ok:
        shape = before_mask.shape
        aligned = warp_to_before(after_rgb, reg.matrix, before_rgb.shape)
        amask = warp_to_before(after_mask, reg.matrix, shape, mask=True)
        valid = valid_region(after_mask.shape, reg.matrix, shape)
        grown, shrunk = amask & ~before_mask, before_mask & ~amask
        arrays.update({"after_aligned": aligned, "after_aligned_mask": amask, "grown": grown, "shrunk": shrunk,
                       "valid": valid})
        if status == "compared" and (_touches_edge(before_mask) or _touches_edge(after_mask)
                                     or _touches_edge(before_mask, valid)):
            status = "lesion_not_in_view"
            warnings.append("the lesion touches the edge of an image (or of what both images see): it is "
                            "not whole in view, so its change is not judged")
        change = _changes(before, after, before_mask, amask, grown, shrunk, scale, ps_b, ps_a)
    exceeded = exceeded_limits(change, thresholds) if change is not None and status == "compared" else []
    rec.update({"status": status, "changed": bool(exceeded), "exceeded": exceeded, "change": change,
                "warnings": warnings})
    if change is None:
        rec["change"] = {k: None for k in ("area_mm2", "area_pct", "diameter_mm", "diameter_pct", "asymmetry",
                                           "border", "colours_gained", "colours_lost", "colours_changed", "dice")}
    return ChangeResult(rec, arrays)


def _changes(before: dict, after: dict, bmask: np.ndarray, amask: np.ndarray, grown: np.ndarray,
             shrunk: np.ndarray, scale: float | None, ps_b: float | None, ps_a: float | None) -> dict[str, Any]:
    """The ``change`` block: AFTER − BEFORE, relative changes in one scale (module docstring)."""
    mm = ps_b is not None and ps_a is not None
    if mm:
        area_b, area_a = before["area_mm2"], after["area_mm2"]
        diam_b, diam_a = before["diameter_mm"], after["diameter_mm"]
    else:  # AFTER's pixels in BEFORE's pixels through the registration's scale
        s = scale or 1.0
        area_b, area_a = float(before["area_px"]), float(after["area_px"]) * s * s
        diam_b, diam_a = before["diameter_px"], None if after["diameter_px"] is None else after["diameter_px"] * s
    inter = float((bmask & amask).sum())
    tot = float(bmask.sum() + amask.sum())
    nb = float(bmask.sum())
    gained = sorted(set(after["colours"]) - set(before["colours"]))
    lost = sorted(set(before["colours"]) - set(after["colours"]))
    return {
        "area_mm2": _r(_diff(before["area_mm2"], after["area_mm2"]) if mm else None),
        "area_pct": _r(_pct(area_b, area_a), 2),
        "diameter_mm": _r(_diff(before["diameter_mm"], after["diameter_mm"]) if mm else None),
        "diameter_pct": _r(_pct(diam_b, diam_a), 2),
        "asymmetry": _r(_diff(before["asymmetry"], after["asymmetry"])),
        "border": _r(_diff(before["border_score"], after["border_score"])),
        "colours_gained": gained,
        "colours_lost": lost,
        "colours_changed": len(gained) + len(lost),
        "dice": _r(2 * inter / tot if tot else None),
        "grown_px": int(grown.sum()),
        "grown_mm2": _r(float(grown.sum()) * ps_b**2) if ps_b is not None else None,
        "grown_pct": _r(100.0 * grown.sum() / nb, 2) if nb else None,
        "shrunk_px": int(shrunk.sum()),
        "shrunk_mm2": _r(float(shrunk.sum()) * ps_b**2) if ps_b is not None else None,
        "shrunk_pct": _r(100.0 * shrunk.sum() / nb, 2) if nb else None,
    }


#: change key -> threshold key; a two-sided limit of agreement each
_TWO_SIDED = {"area_pct": "area_pct", "diameter_pct": "diameter_pct", "asymmetry": "asymmetry", "border": "border"}


def exceeded_limits(change: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Names of the changes outside their repeatability limits (``thresholds["limits"]``)."""
    limits = thresholds.get("limits", {})
    out = []
    for key, tkey in _TWO_SIDED.items():
        lim, v = limits.get(tkey), change.get(key)
        if lim is None or v is None:
            continue
        if v < lim["lower"] or v > lim["upper"]:
            out.append(key)
    lim = limits.get("dice")
    if lim is not None and change.get("dice") is not None and change["dice"] < lim["lower"]:
        out.append("dice")
    lim, n = limits.get("colours"), change.get("colours_changed")
    if lim is not None and n is not None and n > lim["upper"]:
        out.append("colours")
    return out
