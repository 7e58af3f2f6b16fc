"""The measurement columns of an evaluation's per_image.csv: how far the predicted masks move the lesion
measurements.

For every scored image :func:`measurement_columns` measures the predicted and the true mask with the same
image (:func:`dermaseg.measure.measure`; no pixel size, so sizes are in pixels) and returns the per-image
columns that ``per_image.csv`` carries (:data:`PER_IMAGE_COLUMNS`): ``pred_``/``truth_`` diameter
(maximum Feret, px), asymmetry (0–1), the A score (``asymmetry_axes`` 0/1/2), and the dermoscopic colour
sets (``;``-separated names) with their counts. Areas are already there (``pred_area``, ``truth_area``).

:func:`records_from_rows` turns those columns (from the rows in memory, or read back from
``per_image.csv``) into the two lists of measurement records that :func:`dermaseg.measure.agreement` and
the report's figures (:mod:`dermaseg.report.measure_figures`) take, so metrics.json and the report are
computed from the same saved values. :func:`measurement_summary` is metrics.json's ``measurements``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from dermaseg.measure import agreement, measure

__all__ = ["PER_IMAGE_COLUMNS", "measurement_columns", "records_from_rows", "measurement_summary"]

_KEYS = ("diameter_px", "asymmetry", "asymmetry_axes", "colours", "n_colours")
#: measure_version 2: appended after version 1's columns
_KEYS_V2 = ("asymmetry_score", "asymmetry_grade")
#: per_image.csv columns added by an evaluation, in order (``measure_version``: the rules' version)
PER_IMAGE_COLUMNS: tuple[str, ...] = (*(f"{side}_{k}" for k in _KEYS for side in ("pred", "truth")),
                                    *(f"{side}_{k}" for k in _KEYS_V2 for side in ("pred", "truth")),
                                    "measure_version")


def _cell(key: str, v: Any) -> Any:
    if v is None:
        return ""
    if key == "colours":
        return ";".join(v)
    return v


def measurement_columns(pred: np.ndarray, truth: np.ndarray, image: np.ndarray) -> dict[str, Any]:
    """The :data:`PER_IMAGE_COLUMNS` of one image: ``pred``/``truth`` H×W bool masks, ``image`` H×W×3 uint8.
    Unknown values (e.g. the asymmetry of an empty mask) are ``""``."""
    out: dict[str, Any] = {}
    for side, m in (("pred", pred), ("truth", truth)):
        rec = measure(m, image)
        for k in (*_KEYS, *_KEYS_V2):
            out[f"{side}_{k}"] = _cell(k, rec.get(k))
        out["measure_version"] = rec["measure_version"]
    return {c: out[c] for c in PER_IMAGE_COLUMNS}


def _num(v: Any, kind: type = float) -> Any:
    if v is None or v == "":
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not np.isfinite(f):
        return None
    return int(round(f)) if kind is int else f


def records_from_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(predicted records, true records), one per row that has the measurement columns; CSV strings
    and in-memory values both work. Areas come from ``pred_area``/``truth_area``."""
    pred: list[dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for r in rows:
        if "pred_diameter_px" not in r:
            continue
        for side, into in (("pred", pred), ("truth", truth)):
            colours = r.get(f"{side}_colours")
            n = _num(r.get(f"{side}_n_colours"), int)
            into.append({
                "area_px": _num(r.get(f"{side}_area")),
                "diameter_px": _num(r.get(f"{side}_diameter_px")),
                "asymmetry": _num(r.get(f"{side}_asymmetry")),
                "asymmetry_axes": _num(r.get(f"{side}_asymmetry_axes"), int),
                "colours": [c for c in str(colours or "").split(";") if c],
                "n_colours": n,
            })
    return pred, truth


def measurement_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """metrics.json's ``measurements``: :func:`dermaseg.measure.agreement` of the rows' predicted and
    true measurements, with a note on units; ``None`` when the rows carry no measurements."""
    pred, truth = records_from_rows(rows)
    if not pred:
        return None
    out = agreement(pred, truth)
    out["note"] = ("predicted vs true mask of each image, measured with dermaseg.measure on the same image; "
                   "sizes in pixels (no pixel size in an evaluation); mre = mean relative error as a share; "
                   "diameter = maximum Feret diameter with Bland-Altman bias and 95% limits of agreement; "
                   "colours = the six dermoscopic colours found inside each mask")
    return out
