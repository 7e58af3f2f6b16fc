"""``dermaseg compare`` and ``dermaseg.compare(...)``: two visits of one lesion -> compare.json + report.

:func:`compare_arrays` is the whole comparison in memory (register, segment through the one Predictor
unless masks are given, measure, change): the benchmark and the web API call it too. :func:`compare`
adds reading the files and writing the outputs; :func:`compare_pairs` runs a follow-up series.

Outputs in ``out`` (each written atomically; ``compare.json`` after the images it points at, the report
last, rendered from them by :mod:`dermaseg.compare.report`): ``before.png``, ``after_aligned.png``
(AFTER resampled in BEFORE's frame), ``before_mask.png``, ``after_mask.png`` (AFTER's own frame),
``after_aligned_mask.png``, ``grown.png``, ``shrunk.png`` (0/255, BEFORE's frame), ``compare.json``,
``compare.png`` and ``compare.html``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.compare.change import compute_change
from dermaseg.compare.registration import register
from dermaseg.compare.report import render_compare
from dermaseg.compare.thresholds import load_thresholds, threshold_notes
from dermaseg.errors import DataError, DermasegError
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import as_rgb, check_out, read_mask, write_png, write_text
from dermaseg.measure import check_pixel_size
from dermaseg.models.default import DEFAULT_SHA256

__all__ = ["compare", "compare_arrays", "model_sha256", "pixel_sizes", "FORMAT"]

FORMAT = "dermaseg-compare/1"


def model_sha256(model: Any) -> str | None:
    """The sha256 naming a model version: the bundled weights' for ``"default"``, a saved model file's own
    bytes for a path; None for anything else."""
    if model == "default":
        return DEFAULT_SHA256
    if isinstance(model, str | os.PathLike) and Path(model).is_file():
        h = hashlib.sha256()
        with open(model, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    return None


def pixel_sizes(pixel_size: Any = None, before: Any = None, after: Any = None) -> tuple[float | None, float | None]:
    """(BEFORE, AFTER) mm per pixel from ``--pixel-size`` (both) or the two separate options."""
    if pixel_size is not None and (before is not None or after is not None):
        raise DermasegError("compare: give --pixel-size, or --pixel-size-before/--pixel-size-after, not both")
    ps = check_pixel_size(pixel_size, "--pixel-size")
    if ps is not None:
        return ps, ps
    return check_pixel_size(before, "--pixel-size-before"), check_pixel_size(after, "--pixel-size-after")


def _segment(predictor: Any, rgb: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    predictor.set_image(rgb)
    pred = predictor.predict()
    return np.asarray(pred.mask, dtype=bool), {"source": pred.source, "quality": pred.quality,
                                               "flags": list(pred.flags)}


def compare_arrays(before: np.ndarray, after: np.ndarray, before_mask: np.ndarray | None = None,
                   after_mask: np.ndarray | None = None, *, predictor: Any = None, model: Any = "default",
                   pixel_size_before: float | None = None, pixel_size_after: float | None = None,
                   thresholds: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Compare two RGB ``uint8`` images of one lesion (module docstring) -> (record, arrays).

    Masks (bool H×W of their own image) are segmented by ``predictor`` (built from ``model`` with
    :func:`dermaseg.load_predictor` when None) where not given. ``record`` holds every compare.json field
    but the file names; ``arrays`` the images the report draws (BEFORE's frame)."""
    th = thresholds if thresholds is not None else load_thresholds()
    segmentation: dict[str, Any] = {}
    sha = model_sha256(model)
    if before_mask is None or after_mask is None:
        if predictor is None:
            predictor = load_predictor(model)
        segmentation["model"] = {"name": str(getattr(predictor, "name", model)), "sha256": sha}
    for label, img, m in (("before", before, before_mask), ("after", after, after_mask)):
        if m is not None and np.asarray(m).shape != img.shape[:2]:
            raise DataError(f"{label} mask: {np.asarray(m).shape[1]}x{np.asarray(m).shape[0]} pixels, its image "
                            f"is {img.shape[1]}x{img.shape[0]}")
    if before_mask is None:
        before_mask, segmentation["before"] = _segment(predictor, before)
    else:
        segmentation["before"] = {"source": "given mask"}
    if after_mask is None:
        after_mask, segmentation["after"] = _segment(predictor, after)
    else:
        segmentation["after"] = {"source": "given mask"}
    all_given = segmentation["before"]["source"] == segmentation["after"]["source"] == "given mask"
    reg = register(before, after)
    res = compute_change(before, after, np.asarray(before_mask, bool), np.asarray(after_mask, bool), reg, th,
                         pixel_size_before, pixel_size_after)
    r = res.record
    record: dict[str, Any] = {
        "format": FORMAT, "changed": r["changed"], "status": r["status"], "exceeded": r["exceeded"],
        "registration": reg.to_dict(), "before": r["before"], "after": r["after"], "change": r["change"],
        "thresholds": {"limits": th.get("limits", {}), "model": th.get("model"), "source": th.get("source"),
                       "measured": th.get("measured")},
        "pixel_size_before": r["pixel_size_before"], "pixel_size_after": r["pixel_size_after"],
        "segmentation": segmentation,
        "warnings": [*r["warnings"], *threshold_notes(th, None if all_given else sha)],
    }
    res.arrays["before_mask"] = np.asarray(before_mask, bool)
    res.arrays["after_mask"] = np.asarray(after_mask, bool)
    return record, res.arrays


def _read_inputs(before: Any, after: Any, masks_before: Any, masks_after: Any):
    b = as_rgb(before, str(before) if isinstance(before, str | os.PathLike) else "before")
    a = as_rgb(after, str(after) if isinstance(after, str | os.PathLike) else "after")
    mb = read_mask(masks_before) if isinstance(masks_before, str | os.PathLike) else masks_before
    ma = read_mask(masks_after) if isinstance(masks_after, str | os.PathLike) else masks_after
    for label, img, m, src in (("BEFORE", b, mb, masks_before), ("AFTER", a, ma, masks_after)):
        if m is not None and np.asarray(m).shape != img.shape[:2]:
            name = src if isinstance(src, str | os.PathLike) else f"{label} mask"
            raise DataError(f"{name}: mask of {np.asarray(m).shape[1]}x{np.asarray(m).shape[0]} pixels, the "
                            f"{label} image is {img.shape[1]}x{img.shape[0]}")
    return b, a, mb, ma


def compare(before: Any, after: Any, out: str | os.PathLike | None = None, *, pixel_size: float | None = None,
            pixel_size_before: float | None = None, pixel_size_after: float | None = None,
            masks_before: Any = None, masks_after: Any = None, model: Any = "default", predictor: Any = None,
            thresholds: dict[str, Any] | None = None, report: bool = True) -> dict[str, Any]:
    """Compare two visits of one lesion; returns the compare.json record (and writes ``out`` when given).

    ``before``/``after``: image paths, PIL images or RGB arrays; ``masks_*``: mask paths or arrays (else
    the Predictor segments); pixel sizes in mm per pixel (``pixel_size`` for both)."""
    ps_b, ps_a = pixel_sizes(pixel_size, pixel_size_before, pixel_size_after)
    inputs = tuple(p for p in (before, after, masks_before, masks_after) if isinstance(p, str | os.PathLike))
    if out is not None:
        check_out(out, kind="folder")
        for p in inputs:
            if Path(p).resolve().parent == Path(out).resolve():
                raise DataError(f"--out {out}: holds the input {p}; write the outputs elsewhere")
    b, a, mb, ma = _read_inputs(before, after, masks_before, masks_after)
    record, arrays = compare_arrays(b, a, mb, ma, predictor=predictor, model=model, pixel_size_before=ps_b,
                                    pixel_size_after=ps_a, thresholds=thresholds)
    record["inputs"] = {k: (str(v) if isinstance(v, str | os.PathLike) else None) for k, v in
                        (("before", before), ("after", after), ("mask_before", masks_before),
                         ("mask_after", masks_after))}
    if out is not None:
        write_outputs(Path(out), record, b, arrays, report=report)
    return record


def write_outputs(out: Path, record: dict[str, Any], before_rgb: np.ndarray, arrays: dict[str, np.ndarray],
                  report: bool = True) -> Path:
    """Write the images, then compare.json, then the report (module docstring). Returns compare.json."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"before": "before.png", "before_mask": "before_mask.png", "after_mask": "after_mask.png"}
    write_png(out / "before.png", before_rgb)
    write_png(out / "before_mask.png", arrays["before_mask"])
    write_png(out / "after_mask.png", arrays["after_mask"])
    for key in ("after_aligned", "after_aligned_mask", "grown", "shrunk"):
        if key in arrays:
            write_png(out / f"{key}.png", arrays[key])
            files[key] = f"{key}.png"
    record["files"] = files
    path = out / "compare.json"
    write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
    if report:
        render_compare(out)
    return path
