"""Lesion measurements from a mask (and the image): size in pixels and millimetres, asymmetry, border
and colour, the A, B, C and clinical D of dermoscopy.

``measure(mask, image=None, pixel_size=None) -> dict`` is the one entry point; the formulas, reference
values and thresholds are in the docstrings of :mod:`~dermaseg.measure.geometry` (size and shape),
:mod:`~dermaseg.measure.asymmetry`, :mod:`~dermaseg.measure.border` and :mod:`~dermaseg.measure.colour`,
and in docs/measure.md. numpy, scikit-image, OpenCV and scipy only (no torch), so the web
app and the CLI import it cheaply.

The record (a JSON-able dict; plain ``int``/``float``/``bool``/``str``/``list``/``None``, never NaN)
starts with ``MEASURE_KEYS`` in this order, then ``EXTRA_KEYS``:

- ``area_px``/``area_mm2``, ``perimeter_px``/``perimeter_mm``, ``diameter_px``/``diameter_mm`` (maximum
  Feret diameter): millimetres only with ``pixel_size`` (mm per pixel), otherwise ``None``, never
  guessed;
- ``asymmetry`` (0–1, mean of the two axes), ``asymmetry_axes`` (0–2, the A score), ``compactness``
  (P²/4πA, 1 for a disc), ``solidity``;
- ``colours`` (names among white, red, light brown, dark brown, blue-grey, black) and ``n_colours``
  (the C score, 1–6); without an image ``colours`` is ``[]`` and every colour value ``None``.

- version 2 (appended after version 1's extras): ``share_skin``, ``colour_dist_asymmetry`` (+ ``_major``/
  ``_minor``), ``asymmetry_score`` and ``asymmetry_grade`` (0/1/2, calibrated to PH2's dermatologists),
  ``measure_version`` (:mod:`dermaseg.measure.rules`; docs/measurements.md).

An empty mask gives 0 for the sizes and ``None`` for every ratio (and ``n_colours`` 0 with an image).
"""

from __future__ import annotations

import math
import sys
import types
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError
from dermaseg.measure.agreement import agreement as _agreement
from dermaseg.measure.asymmetry import (
    colour_asymmetry,
    colour_distribution_asymmetry,
    combined_asymmetry,
    shape_asymmetry,
)
from dermaseg.measure.border import band_widths, border_score
from dermaseg.measure.colour import as_image, colour_context, colour_features, shades_of_gray
from dermaseg.measure.geometry import as_mask, geometry
from dermaseg.measure.rules import MEASURE_VERSION, rules

__all__ = [
    "measure",
    "PIXEL_SIZE_RANGE",
    "MEASURE_KEYS",
    "EXTRA_KEYS",
    "MEASURE_COLUMNS",
    "EXTRA_COLUMNS",
    "CSV_COLUMNS",
    "DIAMETER_THRESHOLD_MM",
    "check_pixel_size",
    "record_to_row",
    "agreement",
    "MEASURE_VERSION",
]

MEASURE_KEYS = ("area_px", "area_mm2", "perimeter_px", "perimeter_mm", "diameter_px", "diameter_mm",
                "asymmetry", "asymmetry_axes", "compactness", "solidity", "colours", "n_colours")
_SHARE_KEYS = ("share_white", "share_red", "share_light_brown", "share_dark_brown", "share_blue_grey",
               "share_black")
EXTRA_KEYS = (
    "equivalent_diameter_px", "equivalent_diameter_mm", "major_axis_px", "major_axis_mm", "minor_axis_px",
    "minor_axis_mm", "eccentricity", "orientation_deg", "n_components", "n_holes", "diameter_over_6mm",
    "asymmetry_major", "asymmetry_minor", "colour_asymmetry", "colour_asymmetry_major",
    "colour_asymmetry_minor", "border_score", "border_sharpness", "lab_mean_l", "lab_mean_a", "lab_mean_b",
    "lab_std_l", "lab_std_a", "lab_std_b", "skin_lab_l", "skin_lab_a", "skin_lab_b", "contrast_delta_e",
    "contrast_lightness", *_SHARE_KEYS, "pixel_size_mm",
    # measure_version 2 (issue 31): appended after version 1's columns
    "share_skin", "colour_dist_asymmetry", "colour_dist_asymmetry_major", "colour_dist_asymmetry_minor",
    "asymmetry_score", "asymmetry_grade", "measure_version",
)
#: the CSV columns of the contract (``dermaseg measure``), starting with ``image``
MEASURE_COLUMNS = ("image", *MEASURE_KEYS)
EXTRA_COLUMNS = EXTRA_KEYS
CSV_COLUMNS = (*MEASURE_COLUMNS, *EXTRA_COLUMNS)
#: the clinical "D" of the ABCD mnemonic: a diameter over 6 mm (Friedman, Rigel & Kopf 1985, CA Cancer J
#: Clin 35:130–151); not the "D" (dermoscopic structures) of the total dermoscopy score
DIAMETER_THRESHOLD_MM = 6.0

_COLOUR_KEYS = ("colour_asymmetry", "colour_asymmetry_major", "colour_asymmetry_minor", "border_score",
                "border_sharpness", "lab_mean_l", "lab_mean_a", "lab_mean_b", "lab_std_l", "lab_std_a",
                "lab_std_b", "skin_lab_l", "skin_lab_a", "skin_lab_b", "contrast_delta_e",
                "contrast_lightness", *_SHARE_KEYS, "share_skin", "colour_dist_asymmetry",
                "colour_dist_asymmetry_major", "colour_dist_asymmetry_minor")


#: pixel sizes accepted (mm per pixel): dermoscopy is about 0.005-0.1; outside this range a value is a
#: typo or an attack (1e308 overflowed the areas), refused with a message
PIXEL_SIZE_RANGE = (1e-6, 100.0)


def check_pixel_size(pixel_size: Any, name: str = "pixel_size") -> float | None:
    """``None``, or the pixel size as a positive finite ``float`` (mm per pixel); anything else ->
    :class:`DermasegError` naming ``name`` (the argument or option)."""
    if pixel_size is None:
        return None
    try:
        v = float(pixel_size)
    except (TypeError, ValueError, OverflowError):
        raise DermasegError(f"{name}: must be a number of mm per pixel, got {str(pixel_size)[:40]}") from None
    if not math.isfinite(v) or v <= 0:
        raise DermasegError(f"{name}: must be a positive finite number of mm per pixel, got {v:g}")
    lo, hi = PIXEL_SIZE_RANGE
    if not lo <= v <= hi:
        raise DermasegError(f"{name}: {v:g} mm per pixel is outside the sane range {lo:g} to {hi:g}")
    return v


def _clean(v: Any) -> Any:
    """Plain Python values, NaN/inf -> None (the record must be JSON-safe)."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def measure(mask: np.ndarray, image: np.ndarray | None = None, pixel_size: float | None = None,
            constancy: str | None = None) -> dict[str, Any]:
    """Measure one lesion.

    Args:
        mask: H×W lesion mask: ``bool``, 0/1 or 0/255 (any array: the package's mask rule).
        image: the RGB ``uint8`` H×W×3 image of the mask, for the colour and border features; without
            it those are ``None`` and ``colours`` is ``[]``.
        pixel_size: millimetres per pixel, or ``None`` when unknown (then every mm value is ``None``).
        constancy: ``"none"`` or ``"shades_of_gray"`` (colour constancy before the colour features);
            ``None``: the shipped rule's (``rules.json``).

    Returns:
        The record: ``MEASURE_KEYS`` in order, then ``EXTRA_KEYS`` (module docstring; definitions in the
        submodules). Bad arguments (a mask that is not 2-D, an image of another size, a pixel size that
        is not a positive finite number) raise :class:`DermasegError`; an empty mask does not.
    """
    ps = check_pixel_size(pixel_size)
    m = as_mask(mask)
    rgb = None
    if image is not None:
        rgb = as_image(image, m.shape)
        cc = rules()["colour"]["constancy"] if constancy is None else constancy
        if cc not in ("none", "shades_of_gray"):
            raise DermasegError(f"constancy must be 'none' or 'shades_of_gray', got {cc!r}")
        if cc == "shades_of_gray":
            rgb = shades_of_gray(rgb)
    g = geometry(m)
    asym = shape_asymmetry(m, g)

    def mm(v: float | None, power: int = 1) -> float | None:
        return None if ps is None or v is None else v * ps**power

    rec: dict[str, Any] = {
        "area_px": g.area_px, "area_mm2": mm(float(g.area_px), 2),
        "perimeter_px": g.perimeter_px, "perimeter_mm": mm(g.perimeter_px),
        "diameter_px": g.diameter_px, "diameter_mm": mm(g.diameter_px),
        "asymmetry": None if asym is None else asym.mean,
        "asymmetry_axes": None if asym is None else asym.n_axes,
        "compactness": g.compactness, "solidity": g.solidity,
        "colours": [], "n_colours": None,
        "equivalent_diameter_px": g.equivalent_diameter_px, "equivalent_diameter_mm": mm(g.equivalent_diameter_px),
        "major_axis_px": g.major_axis_px, "major_axis_mm": mm(g.major_axis_px),
        "minor_axis_px": g.minor_axis_px, "minor_axis_mm": mm(g.minor_axis_px),
        "eccentricity": g.eccentricity, "orientation_deg": None if asym is None else _angle(asym.axis),
        "n_components": g.n_components, "n_holes": g.n_holes,
        "diameter_over_6mm": None if ps is None else bool(g.diameter_px * ps > DIAMETER_THRESHOLD_MM),
        "asymmetry_major": None if asym is None else asym.major,
        "asymmetry_minor": None if asym is None else asym.minor,
    }
    rec.update(dict.fromkeys(_COLOUR_KEYS))
    rec["pixel_size_mm"] = ps
    rec["asymmetry_score"] = rec["asymmetry_grade"] = None
    rec["measure_version"] = MEASURE_VERSION
    if rgb is not None and g.area_px == 0:
        rec["n_colours"] = 0
    elif rgb is not None and asym is not None and g.centroid is not None:
        rec.update(_colour_part(rgb, m, g, asym.axis))
    if asym is not None:
        a = rules()["asymmetry"]
        w = float(a["colour_weight"]) if rgb is not None else 0.0
        rec["asymmetry_score"], rec["asymmetry_grade"] = combined_asymmetry(
            asym.major, asym.minor, rec["colour_dist_asymmetry_major"], rec["colour_dist_asymmetry_minor"], w,
            (float(a["cuts"][0]), float(a["cuts"][1])))
    return {k: _clean(rec[k]) for k in (*MEASURE_KEYS, *EXTRA_KEYS)}


def _angle(axis: tuple[float, float]) -> float:
    """Degrees from the image's x axis, counter-clockwise as seen on screen (y grows downwards)."""
    return math.degrees(math.atan2(-axis[1], axis[0]))


def _colour_part(rgb: np.ndarray, m: np.ndarray, g: Any, axis: tuple[float, float]) -> dict[str, Any]:
    w_n, _ = band_widths(g.equivalent_diameter_px)
    ctx = colour_context(rgb, m, g.equivalent_diameter_px, margin=w_n)
    labels: list[np.ndarray] = []
    out = colour_features(ctx, labels_out=labels)
    ys, xs = np.nonzero(ctx.mask)
    ca_major, ca_minor = colour_asymmetry(ctx.lab[ys, xs], ys + ctx.y0, xs + ctx.x0, g.centroid, axis)
    lab_cls = labels[0]
    out["share_skin"] = float(np.mean(lab_cls == 6)) if len(lab_cls) else None
    cd_major, cd_minor = colour_distribution_asymmetry(lab_cls, ys + ctx.y0, xs + ctx.x0, g.centroid, axis)
    cd = [v for v in (cd_major, cd_minor) if v is not None]
    out.update({"colour_dist_asymmetry": float(np.mean(cd)) if cd else None,
                "colour_dist_asymmetry_major": cd_major, "colour_dist_asymmetry_minor": cd_minor})
    defined = [v for v in (ca_major, ca_minor) if v is not None]
    out.update({"colour_asymmetry": max(defined) if defined else None, "colour_asymmetry_major": ca_major,
                "colour_asymmetry_minor": ca_minor})
    score, sharp, _ = border_score(ctx, g.centroid, axis, g.equivalent_diameter_px)
    out.update({"border_score": score, "border_sharpness": sharp})
    return out


def record_to_row(record: dict[str, Any], image: str, columns: tuple[str, ...] = CSV_COLUMNS) -> dict[str, str]:
    """One CSV row (column -> text) of a :func:`measure` record: ``colours`` joined with ``;``, ``None``
    as an empty cell, booleans as ``true``/``false``, floats with up to 6 decimals."""
    row: dict[str, str] = {}
    for c in columns:
        v = image if c == "image" else record.get(c)
        if v is None:
            row[c] = ""
        elif isinstance(v, bool):
            row[c] = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            row[c] = ";".join(str(x) for x in v)
        elif isinstance(v, float):
            text = f"{v:.6f}".rstrip("0").rstrip(".") if math.isfinite(v) else ""
            row[c] = "0" if text == "-0" else text
        else:
            row[c] = str(v)
    return row


def agreement(pred_records: list[dict[str, Any]], truth_records: list[dict[str, Any]]) -> dict[str, Any]:
    """Measurement agreement between predicted and true masks of the same images (see
    :func:`dermaseg.measure.agreement.agreement`)."""
    return _agreement(pred_records, truth_records)


class _CallableModule(types.ModuleType):
    """``dermaseg.measure(mask, image, pixel_size)`` calls :func:`measure`: the package is its function."""

    def __call__(self, mask: np.ndarray, image: np.ndarray | None = None, pixel_size: float | None = None
                 ) -> dict[str, Any]:
        return measure(mask, image=image, pixel_size=pixel_size)


sys.modules[__name__].__class__ = _CallableModule
