"""``render_report(run_dir)``: a self-contained report.html (and figures/*.png) from a run's saved files.

Reads only what a run wrote — metrics.json, per_image.csv, cases/ (``dermaseg evaluate``, and the final
validation of ``dermaseg train``), history.csv, config.json, cv_table.csv, cv_summary.json,
sweep_table.csv (training; val_metrics.json and val_per_image.csv of run folders written before training
scored through the evaluator) — and never recomputes a metric
nor runs a model. The HTML embeds its PNG figures as base64 and its CSS inline and links nothing
outside itself, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.inference.postprocess import FAILURE_JACCARD
from dermaseg.io import write_text
from dermaseg.measure.per_image import records_from_rows
from dermaseg.report import figures, measure_figures, sections
from dermaseg.report.sections import SUMMARY_METRICS

__all__ = ["render_report", "load_run", "run_name", "SUMMARY_METRICS"]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1150px;
color:#222;line-height:1.4;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;
padding-bottom:.2em}table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:4px 9px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.meta td{text-align:left}.note{color:#555;font-size:.88em}
img{max-width:100%;height:auto;border:1px solid #eee}figure{margin:1em 0}
figcaption{color:#444;font-size:.9em}.warn{color:#a33}.scroll{overflow-x:auto}
pre{white-space:pre-wrap;word-break:break-word;background:#fafafa;padding:8px;border:1px solid #eee}
"""


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                if None in row:  # more fields than the header: not a file dermaseg wrote
                    raise DermasegError(f"{path}:{reader.line_num}: more fields than the header; not a CSV "
                                        "file dermaseg wrote")
                rows.append(row)
            return rows
    except (UnicodeDecodeError, csv.Error) as e:
        raise DermasegError(f"{path}: not a CSV file dermaseg wrote ({type(e).__name__}: {e})") from e


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DermasegError(f"{path}: not valid JSON (not UTF-8 text at byte {e.start})") from e
    except json.JSONDecodeError as e:
        raise DermasegError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(doc, dict):
        raise DermasegError(f"{path}: not a file dermaseg wrote (a JSON {type(doc).__name__}, not an object)")
    for key in ("per_image_mean", "per_image_std", "pooled"):  # the score tables every report reads
        table = doc.get(key)
        if table is None:
            continue
        if not isinstance(table, dict) or not all(v is None or isinstance(v, int | float | dict)
                                                  for v in table.values()):
            raise DermasegError(f"{path}: not a file dermaseg wrote ('{key}' is not a table of scores)")
    if "n_images" in doc and not isinstance(doc["n_images"], int):
        raise DermasegError(f"{path}: not a file dermaseg wrote ('n_images' is not a number)")
    return doc


def load_run(run_dir: Path) -> dict[str, Any]:
    """Every file the report reads, loaded (missing files -> None or [])."""
    d = Path(run_dir)
    cases = _read_json(d / "cases" / "cases.json") or {}
    return {
        "metrics": _read_json(d / "metrics.json"),
        "rows": _read_csv(d / "per_image.csv"),
        "cases": cases.get("cases", []),
        "cases_note": cases.get("note", ""),
        "history": _read_csv(d / "history.csv"),
        "config": _read_json(d / "config.json"),
        "cv_table": _read_csv(d / "cv_table.csv"),
        "cv_summary": _read_json(d / "cv_summary.json"),
        "sweep_table": _read_csv(d / "sweep_table.csv"),
        "val_metrics": _read_json(d / "val_metrics.json"),
        "val_rows": _read_csv(d / "val_per_image.csv"),
    }


def _img(path: Path | None, caption: str) -> str:
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{sections.esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def run_name(d: Path) -> str:
    """The run's name for titles: a staging folder ``.fold_0.stage.m3r4l_a_`` (written, then renamed into
    place; see :mod:`dermaseg.evaluation.outputs`) is named by the folder it becomes, ``fold_0``."""
    name = Path(d).name
    if name.startswith(".") and ".stage." in name:
        return name[1:name.index(".stage.")]
    return name


def render_report(run_dir: Path) -> Path:
    """Render ``run_dir/report.html`` and ``run_dir/figures/*.png`` from the run's saved files.

    Works for an evaluation folder (metrics.json, per_image.csv, cases/), a training run (the same plus
    history.csv and config.json, or config.json and history.csv alone when nothing was validated), a
    cross-validation folder (cv_table.csv, cv_summary.json) and a sweep (sweep_table.csv). Every report
    opens with the protocol header (:mod:`dermaseg.report.sections`). Returns the report's path.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise DermasegError(f"{d}: no such run folder")
    run = load_run(d)
    if run["metrics"] is None and not (run["history"] or run["cv_table"] or run["sweep_table"] or run["val_metrics"]):
        raise DermasegError(f"{d}: nothing to report (no metrics.json, history.csv, cv_table.csv or "
                            "sweep_table.csv)")
    try:
        stage = Path(tempfile.mkdtemp(prefix=".figures.", dir=d))
    except OSError as e:
        raise DermasegError(f"{d}: cannot write the report here ({e.strerror or e})") from e
    try:
        try:
            doc = _document(d, run, stage)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as e:
            raise DermasegError(f"{d}: its saved files do not have the shape dermaseg writes "
                                f"({type(e).__name__}: {e})") from e
        out = d / "report.html"
        write_text(out, doc)
        _replace_dir(stage, d / "figures")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out


def _replace_dir(new: Path, dest: Path) -> None:
    """Put folder ``new`` at ``dest``, replacing what was there (empty ``new``: remove ``dest``)."""
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
    if any(new.iterdir()):
        os.replace(new, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _document(d: Path, run: dict[str, Any], fig_dir: Path) -> str:
    """The report's HTML, its figures written into ``fig_dir``."""
    m = run["metrics"]
    parts: list[str] = []
    config = run["config"] if isinstance(run["config"], dict) else None
    if m is not None:
        ds, prompt = m.get("dataset", {}), m.get("prompt", {})
        title = (f"{sections.model_label(m.get('model', {}))} on {ds.get('format', '?')} "
                 f"{ds.get('split_resolved') or ds.get('split', '')} — prompt {prompt.get('mode', '?')}")
        header = sections.evaluation_protocol(m)
        if m.get("training"):  # a training run's final validation of best.pt (dermaseg train)
            parts += [f"<h1>dermaseg training run: {sections.esc(run_name(d))}</h1>",
                      f"<p class='note'>Final validation of best.pt: {sections.esc(title)}; scored through the "
                      "Predictor and the evaluator, as <code>dermaseg evaluate --model best.pt</code> "
                      "scores.</p>"]
            if config:
                header += sections.training_protocol(config, run["history"])
        else:
            parts.append(f"<h1>dermaseg evaluation: {sections.esc(title)}</h1>")
        parts += [sections.protocol_table(header), "<h2>Summary</h2>", sections.summary_section(m)]
        pooled = m.get("summary", {}).get("pooled", {})
        cases = run["cases"]
        parts.append("<h2>Examples: best, median and worst by Dice (melSeg Fig. 6)</h2>")
        parts.append(_img(figures.case_panels(d, cases, fig_dir / "cases.png"),
                          "input (prompt dashed cyan) | ground truth (green) | prediction (yellow) | overlay: "
                          "truth only green, prediction only yellow, both yellow-green. "
                          + sections.esc(run["cases_note"])))
        parts.append("<h2>Contours (SkinSAM Fig. 3's layout)</h2>")
        parts.append(_img(figures.contour_grid(d, cases, fig_dir / "contours.png"),
                          "ground truth contour green, prediction contour yellow (the colours of every figure "
                          "here; SkinSAM drew truth red and prediction green)"))
        parts.append("<h2>Distribution of per-image scores (SkinSAM Fig. 4)</h2>")
        parts.append(_img(figures.metric_histograms(run["rows"], fig_dir / "histograms.png"),
                          "per-image Dice, IoU and accuracy; dashed line = per-image mean"))
        dx_fig = figures.diagnosis_histograms(run["rows"], fig_dir / "histograms_by_diagnosis.png")
        if dx_fig is not None:
            parts.append("<h2>Per diagnosis (SkinSAM Fig. 5)</h2>")
            parts.append(_img(dx_fig, "per-image Dice, IoU and accuracy, one row per diagnosis"))
        qfig = figures.quality_calibration(run["rows"], m.get("predicted_quality"), fig_dir / "quality.png")
        if qfig is not None:
            parts.append("<h2>Predicted quality against the truth</h2>")
            parts.append(_img(qfig, "each image's predicted quality (the automatic pipeline's estimate of its "
                                    "IoU, made without the truth) against its true IoU; the dotted lines mark "
                                    f"the ISIC failure threshold {FAILURE_JACCARD:g}, below which masks are "
                                    "flagged predicted-failure"))
        mp, mt = records_from_rows(run["rows"])
        if mp:
            parts.append("<h2>How far the predicted masks move the lesion measurements</h2>")
            parts.append(sections.measurement_section(m.get("measurements")))
            parts.append(_img(measure_figures.bland_altman_diameter(mp, mt, fig_dir / "measure_diameter.png"),
                              "Bland–Altman plot of the maximum Feret diameter (predicted − true against their "
                              "mean; bias and 95 % limits of agreement), beside both distributions"))
            parts.append(_img(measure_figures.asymmetry_scatter(mp, mt, fig_dir / "measure_asymmetry.png"),
                              "shape asymmetry (0 symmetric – 1) of the predicted mask against the true mask's; "
                              "dashed: identity"))
        parts.append(sections.diagnosis_section(m))
        parts.append("<h2>Pixel confusion matrix (U-Net paper)</h2>")
        parts.append(_img(figures.confusion_heatmap(pooled, fig_dir / "confusion.png"),
                          "pooled pixel counts over all images, each row normalised to 1"))
    elif isinstance(run["cv_summary"], dict) and run["cv_summary"].get("protocol"):
        cv = run["cv_summary"]
        parts += [f"<h1>dermaseg cross-validation: {sections.esc(run_name(d))}</h1>", sections.protocol_table(sections.cv_protocol(cv["protocol"]))]
    else:
        parts.append(f"<h1>dermaseg training run: {sections.esc(run_name(d))}</h1>")
        if config:
            parts.append(sections.protocol_table(sections.config_protocol(config) + sections.training_protocol(config, run["history"])))
        vm = run["val_metrics"]
        if vm and "per_image_mean" in vm:  # a run folder written before training scored through evaluate
            parts.append("<h2>Validation of the best checkpoint (val_metrics.json)</h2>")
            parts.append(sections.summary_section({"summary": vm, "empty_mask_rule": "as dermaseg.evaluation.metrics"}))
            parts.append(f"<p class='note'>scored at: {sections.esc(vm.get('resolution', '?'))}; "
                         f"threshold {sections.esc(vm.get('threshold', '?'))}</p>")
            parts.append(_img(figures.metric_histograms(run["val_rows"], fig_dir / "histograms.png"),
                              "per-image Dice, IoU and accuracy on the validation images"))
            parts.append(_img(figures.confusion_heatmap(vm.get("pooled", {}), fig_dir / "confusion.png"),
                              "pooled pixel counts over the validation images, each row normalised to 1"))
    if run["history"]:
        parts.append("<h2>Training curves</h2>")
        parts.append(_img(figures.training_curves(run["history"], fig_dir / "training.png"),
                          "loss per epoch (training, validation) and validation Dice / IoU"))
    if run["cv_table"]:
        parts.append(sections.cv_section(run["cv_table"], run["cv_summary"] if isinstance(run["cv_summary"], dict) else None))
        parts.append(_img(figures.cv_folds(run["cv_table"], fig_dir / "folds.png"),
                          "per-image mean Dice and IoU of each fold's validation images; dashed: mean over "
                          "folds, band: ± 1 std over folds"))
    if run["sweep_table"]:
        parts.append("<h2>Hyper-parameter sweep (melSeg Table I)</h2>"
                     + sections.table(run["sweep_table"], "mean and std over folds (sweep_table.csv)"))
    if config:
        parts.append("<h2>Run configuration</h2>"
                     f"<pre class='note'>{sections.esc(json.dumps(config, indent=1))}</pre>")
    doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           "<meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>dermaseg report — {sections.esc(run_name(d))}</title><style>{CSS}</style></head><body>"
           + "\n".join(p for p in parts if p)
           + "<p class='note'>Rendered by dermaseg from the run's saved files; no metric was recomputed.</p>"
           "</body></html>")
    return doc
