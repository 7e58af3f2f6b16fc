"""Write an evaluation folder atomically: metrics.json, per_image.csv, cases/, report.html, figures/.

Everything is first written into a hidden staging folder beside ``out`` and moved into ``out`` only
when all files (and the report) were written, so a failure leaves no partial output behind.

``cases/`` holds what the report needs to draw example panels without a model: for the best, median
and worst image by Dice (and the median image of each diagnosis) a display copy of the input, the
true mask and the predicted mask (longest side at most :data:`CASE_MAX_SIDE` px; the metrics were
computed at full resolution), and ``cases.json`` describing them.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg import __version__
from dermaseg.errors import DermasegError
from dermaseg.evaluation.metrics import METRIC_KEYS, THRESHOLD_JACCARD, quality_summary
from dermaseg.io import read_image, read_mask, write_png, write_text
from dermaseg.measure.per_image import PER_IMAGE_COLUMNS, measurement_summary
from dermaseg.report.html import render_report

__all__ = ["CSV_COLUMNS", "CASE_MAX_SIDE", "write_evaluation", "select_cases", "build_metrics_json"]

CSV_COLUMNS: tuple[str, ...] = (
    "id", "label", "group", "height", "width", *METRIC_KEYS, "tp", "fp", "fn", "tn", "score",
    "predicted_quality", "flag", "pred_area", "truth_area", "prompt", "seconds", *PER_IMAGE_COLUMNS,
)
CASE_MAX_SIDE = 800
#: files of a training run folder that the report also reads (copied into the staging folder)
RUN_FILES = ("history.csv", "cv_table.csv", "cv_summary.json", "sweep_table.csv", "config.json")


def _clean(o: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def select_cases(rows: list[dict[str, Any]], per_label: bool = True, max_labels: int = 8) -> list[dict]:
    """Pick report examples by Dice: best, median, worst (ties broken by id), then the median image
    of each diagnosis (at most ``max_labels`` groups). Returns ``[{"role", "id"}]`` without repeats
    of a role; an image may appear under several roles."""
    if not rows:
        return []
    order = sorted(rows, key=lambda r: (-float(r["dice"]), str(r["id"])))
    picks = [("best", order[0]), ("median", order[len(order) // 2]), ("worst", order[-1])]
    if per_label:
        labels = sorted({str(r.get("label") or "") for r in rows} - {""})
        if 1 < len(labels) <= max_labels or (len(labels) == 1 and max_labels >= 1):
            for lab in labels[:max_labels]:
                sub = [r for r in order if str(r.get("label") or "") == lab]
                picks.append((f"median {lab}", sub[len(sub) // 2]))
    return [{"role": role, "id": r["id"]} for role, r in picks]


def _display(a: np.ndarray, nearest: bool) -> np.ndarray:
    from PIL import Image

    h, w = a.shape[:2]
    s = CASE_MAX_SIDE / max(h, w)
    if s >= 1:
        return a
    size = (max(1, round(w * s)), max(1, round(h * s)))
    if a.dtype == bool:
        im = Image.fromarray(a.astype(np.uint8) * 255).resize(size, Image.NEAREST)
        return np.asarray(im) > 127
    return np.asarray(Image.fromarray(a).resize(size, Image.NEAREST if nearest else Image.BILINEAR))


def _write_cases(result: Any, cases_dir: Path) -> list[dict[str, Any]]:
    rows = {r["id"]: r for r in result.rows}
    entries = []
    written: dict[str, dict[str, str]] = {}
    for i, c in enumerate(select_cases(result.rows)):
        sid = c["id"]
        r = rows[sid]
        if sid not in written:
            s = result.samples[sid]
            stem = f"case{len(written):02d}"
            rgb = read_image(s.image)
            truth = read_mask(s.mask)
            pred = result.mask(sid)
            scale = min(1.0, CASE_MAX_SIDE / max(rgb.shape[:2]))
            write_png(cases_dir / f"{stem}_image.png", _display(rgb, nearest=False))
            write_png(cases_dir / f"{stem}_truth.png", _display(truth, nearest=True))
            write_png(cases_dir / f"{stem}_pred.png", _display(pred, nearest=True))
            written[sid] = {"image": f"{stem}_image.png", "truth": f"{stem}_truth.png",
                            "pred": f"{stem}_pred.png", "scale": scale}
        f = written[sid]
        entries.append({
            "role": c["role"], "id": sid, "label": r.get("label") or "", "order": i,
            "dice": r["dice"], "iou": r["iou"], "hd95": r.get("hd95"),
            "height": r["height"], "width": r["width"], "display_scale": f["scale"],
            "prompt": result.prompts.get(sid, {}),
            "files": {k: f[k] for k in ("image", "truth", "pred")},
        })
    write_text(cases_dir / "cases.json", json.dumps(_clean({
        "note": f"display copies (longest side <= {CASE_MAX_SIDE} px, prompt coordinates in original "
                "pixels; multiply by display_scale); metrics were computed at full resolution",
        "cases": entries}), indent=2))
    return entries


def build_metrics_json(result: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The metrics.json document (see the keys below; every aggregate is labelled). ``meta["training"]``,
    when given, says which training run this is the final validation of."""
    try:
        import torch

        threads = int(torch.get_num_threads())
    except ImportError:  # pragma: no cover
        threads = None
    n = len(result.rows)
    pm = result.summary["per_image_mean"]
    extra = {"training": meta["training"]} if meta.get("training") else {}
    heights = [r["height"] for r in result.rows]
    widths = [r["width"] for r in result.rows]
    return _clean({
        "dermaseg_version": __version__,
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": meta.get("model", {}),
        "dataset": meta.get("dataset", {}),
        "sample": getattr(result, "sample", None) or {"mode": "all", "n": n},
        "prompt": {"mode": result.prompt_mode, "source": result.prompt_source},
        "resolution": {"scored_at": "original (each image's own height x width; no resizing)",
                       "height": {"min": min(heights), "max": max(heights)},
                       "width": {"min": min(widths), "max": max(widths)}},
        "seed": result.seed,
        "summary": {
            "n": n,
            "per_image_mean": pm,
            "per_image_mean_note": "each image scored, then averaged (ISIC convention); std is ddof=0",
            "pooled": result.summary["pooled"],
            "pooled_note": "confusion counts summed over all images, then scored once",
        },
        "thresholded_jaccard": {
            "threshold": THRESHOLD_JACCARD,
            "per_image_mean": pm.get("thresholded_jaccard", {}).get("mean"),
            "images_below_threshold": sum(1 for r in result.rows if r["thresholded_jaccard"] == 0.0),
        },
        "predicted_quality": quality_summary(result.rows),
        "measurements": measurement_summary(result.rows),
        "per_diagnosis": result.per_diagnosis,
        "per_diagnosis_note": "mean and population std (ddof=0) over the images of each diagnosis, with n "
                              "(SkinSAM Table 1's layout, std in place of its variance)",
        "empty_mask_rule": "0/0 ratios score 1 when prediction and truth are identical, else 0; HD95 is 0 "
                           "when both are empty and the image diagonal when exactly one is empty",
        "timing": {
            "seconds_per_image": result.seconds_model / max(n, 1),
            "images_per_second": n / result.seconds_model if result.seconds_model > 0 else None,
            "seconds_per_image_note": "Predictor.set_image + predict only (no file reading, no scoring)",
            "wall_seconds_total": result.seconds_total,
            "device": meta.get("device", "cpu"),
            "threads": threads,
        },
        **extra,
    })


def _csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.4f}" if k == "seconds" else f"{v:.6g}") if isinstance(v, float) else v
                    for k, v in r.items()})
    return buf.getvalue()


def _move_into(stage: Path, out: Path, skip: set[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for entry in sorted(stage.iterdir()):
        if entry.name in skip:
            continue
        dest = out / entry.name
        if entry.is_dir():
            old = None
            if dest.exists():
                old = out / f".{entry.name}.old"
                if old.exists():
                    shutil.rmtree(old)
                os.replace(dest, old)
            os.replace(entry, dest)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(entry, dest)


def write_evaluation(result: Any, out: Path, meta: dict[str, Any], report: bool = True) -> Path:
    """Write metrics.json, per_image.csv, cases/ and (``report``) report.html + figures/ into ``out``.

    All files appear together or not at all. Returns ``out``.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise DermasegError(f"{out}: exists and is not a folder")
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.stage.", dir=out.parent))
    try:
        write_text(stage / "metrics.json", json.dumps(build_metrics_json(result, meta), indent=2))
        write_text(stage / "per_image.csv", _csv_text(result.rows))
        _write_cases(result, stage / "cases")
        copied = set()
        for name in RUN_FILES:  # a training run folder: the report draws its curves and tables too
            if (out / name).is_file():
                shutil.copy2(out / name, stage / name)
                copied.add(name)
        if report:
            render_report(stage)
        _move_into(stage, out, skip=copied)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out

