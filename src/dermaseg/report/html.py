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
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.io import write_text
from dermaseg.report import figures as F

__all__ = ["render_report", "load_run", "SUMMARY_METRICS"]

#: (key, label) of the summary table rows, in order
SUMMARY_METRICS: tuple[tuple[str, str], ...] = (
    ("dice", "Dice"), ("iou", "IoU (Jaccard)"), ("thresholded_jaccard", "thresholded Jaccard (IoU<0.65 → 0)"),
    ("accuracy", "accuracy"), ("precision", "precision"), ("recall", "recall (sensitivity)"),
    ("specificity", "specificity"), ("hd95", "HD95 (pixels)"),
)

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
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DermasegError(f"{path}: not valid JSON ({e})") from e


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


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(v: Any, digits: int = 4) -> str:
    if v is None or v == "":
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return _e(v)
    if f != f:  # NaN
        return "–"
    if f.is_integer() and abs(f) >= 1000:
        return f"{int(f):,}"
    return f"{f:.{digits}f}"


def _cell(v: Any) -> str:
    """A CSV cell for display: integers as integers, small numbers (lr) in 3 significant digits."""
    t = str(v).strip()
    try:
        f = float(t)
    except ValueError:
        return _e(t)
    if f != f:
        return "–"
    if re.fullmatch(r"[+-]?\d+", t):
        return f"{int(t):,}" if abs(int(t)) >= 10000 else t
    if f != 0 and abs(f) < 0.01:
        return f"{f:.3g}"
    return f"{f:.4f}"


def _img(path: Path | None, caption: str) -> str:
    if path is None or not Path(path).is_file():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _table(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    if not rows:
        return ""
    cols = list(rows[0].keys())
    head = "".join(f"<th class='l'>{_e(c)}</th>" if i == 0 else f"<th>{_e(c)}</th>"
                   for i, c in enumerate(cols))
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(cols):
            v = r.get(c, "")
            txt = _cell(v)
            cells.append(f"<td class='l'>{txt}</td>" if i == 0 else f"<td>{txt}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption class='note'>{_e(caption)}</caption>" if caption else ""
    return f"<div class='scroll'><table>{cap}<tr>{head}</tr>{''.join(body)}</table></div>"


def _model_label(model: dict) -> str:
    """``default (fpn-mobilenet_v2)`` when the user asked for a name that resolved to an architecture."""
    name, asked = str(model.get("name", "?")), model.get("requested")
    if asked and asked != name and "/" not in str(asked) and not str(asked).endswith((".pt", ".pth")):
        return f"{asked} ({name})"
    return name


def _meta_section(m: dict[str, Any]) -> str:
    ds, model, prompt = m.get("dataset", {}), m.get("model", {}), m.get("prompt", {})
    timing, res = m.get("timing", {}), m.get("resolution", {})
    h, w = res.get("height", {}), res.get("width", {})
    size = (f"{w.get('min')}×{h.get('min')}" if (h.get("min") == h.get("max") and w.get("min") == w.get("max"))
            else f"{w.get('min')}–{w.get('max')} × {h.get('min')}–{h.get('max')}")
    ips = timing.get("images_per_second")
    mdesc = (_model_label(model) + (f" (checkpoint {model['checkpoint']})" if model.get("checkpoint") else "")
             + (f", auto={model['auto']}" if model.get("auto") else "")
             + (f", tta={model['tta']}" if model.get("tta") is not None else "")
             + (f", postprocess={model['postprocess']}" if "postprocess" in model else ""))
    split = str(ds.get("split", "?"))
    if ds.get("split_resolved") and ds.get("split_resolved") != ds.get("split"):
        split += f" → {ds['split_resolved']}"
    count = f"{ds.get('count', m.get('summary', {}).get('n', '?'))}"
    smp = m.get("sample") or {}
    if smp.get("mode") in ("stratified", "first"):
        per = ", ".join(f"{k} {v.get('sampled')}/{v.get('available')}" for k, v in smp.get("per_diagnosis", {}).items())
        how = (f"seeded sample (seed {smp.get('seed')}) stratified by diagnosis" if smp["mode"] == "stratified"
               else "the first N in the dataset's order, not a random sample")
        count += f" of {smp.get('available', '?')} (--limit {smp.get('requested')}: {how}; {per})"
    elif ds.get("limit"):
        count += f" of {ds.get('available', '?')} (--limit {ds['limit']})"
    rows = [  # (label, already-escaped HTML)
        ("model", _e(mdesc)),
        ("dataset", _e(f"{ds.get('format', '?')} at {ds.get('root', '?')}")),
        ("split", _e(split)),
        ("images scored", _e(count)),
        ("prompt", f"<b>{_e(prompt.get('mode', '?'))}</b> — source: <b>{_e(prompt.get('source', '?'))}</b>"),
        ("scored at", _e(f"{res.get('scored_at', '?')}; image sizes (W×H) {size}")),
        ("seed", _e(m.get("seed", "?"))),
        ("speed", _e(f"{_num(timing.get('seconds_per_image'), 4)} s/image, {_num(ips, 2)} images/s on "
                     f"{timing.get('device', '?')}, {timing.get('threads', '?')} threads (model time only)")),
        ("dermaseg", _e(f"{m.get('dermaseg_version', '?')}, {m.get('date', '?')}")),
    ]
    body = "".join(f"<tr><th class='l'>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='meta'>{body}</table>"


def _summary_section(m: dict[str, Any]) -> str:
    s = m.get("summary", {})
    pm, pooled = s.get("per_image_mean", {}), s.get("pooled", {})
    rows = []
    for key, label in SUMMARY_METRICS:
        if key not in pm and key not in pooled:
            continue
        mean = pm.get(key, {})
        pi = f"{_num(mean.get('mean'))} ± {_num(mean.get('std'))}" if mean else "–"
        pool = _num(pooled.get(key)) if key in pooled else "n/a"
        rows.append(f"<tr><td class='l'>{_e(label)}</td><td>{pi}</td><td>{pool}</td></tr>")
    return ("<table><tr><th class='l'>metric</th><th>per-image mean ± std</th><th>pooled</th></tr>"
            + "".join(rows) + "</table>"
            f"<p class='note'>Per-image mean: each image scored, then averaged (the ISIC convention; std over "
            f"images, ddof=0). Pooled: pixel counts summed over all {s.get('n', '?')} images, then scored "
            "once (no pooled value for thresholded Jaccard or HD95). Empty-mask rule: "
            f"{_e(m.get('empty_mask_rule', ''))}.</p>")


def _diagnosis_section(m: dict[str, Any]) -> str:
    pdx = m.get("per_diagnosis") or {}
    if not pdx or list(pdx) == ["unlabelled"]:
        return ""
    keys = [("dice", "Dice"), ("iou", "IoU"), ("thresholded_jaccard", "thr. Jaccard"), ("accuracy", "accuracy"),
            ("precision", "precision"), ("recall", "recall"), ("hd95", "HD95 px")]
    head = "<tr><th class='l'>diagnosis</th><th>n</th>" + "".join(f"<th>{_e(lab)}</th>" for _, lab in keys) + "</tr>"
    body = []
    for g, entry in pdx.items():
        cells = []
        for k, _ in keys:
            v = entry.get(k)
            d = 2 if k == "hd95" else 4
            cells.append(f"<td>{_num(v['mean'], d)} ({_num(v['var'], d)})</td>" if v else "<td>–</td>")
        body.append(f"<tr><td class='l'>{_e(g)}</td><td>{entry.get('n', '')}</td>{''.join(cells)}</tr>")
    return ("<h2>Per diagnosis (SkinSAM Table 1)</h2><table>" + head + "".join(body) + "</table>"
            "<p class='note'>mean (variance) over the images of each diagnosis; variance ddof=0.</p>")


def render_report(run_dir: Path) -> Path:
    """Render ``run_dir/report.html`` and ``run_dir/figures/*.png`` from the run's saved files.

    Works for an evaluation folder (metrics.json, per_image.csv, cases/) and a training folder
    (history.csv, cv_table.csv, sweep_table.csv), or both in one. Returns the report's path.
    """
    d = Path(run_dir)
    if not d.is_dir():
        raise DermasegError(f"{d}: no such run folder")
    run = load_run(d)
    m = run["metrics"]
    if m is None and not (run["history"] or run["cv_table"] or run["sweep_table"] or run["val_metrics"]):
        raise DermasegError(f"{d}: nothing to report (no metrics.json, history.csv, cv_table.csv or "
                            "sweep_table.csv)")
    fig_dir = d / "figures"
    parts: list[str] = []
    if m is not None:
        ds, prompt = m.get("dataset", {}), m.get("prompt", {})
        title = (f"{_model_label(m.get('model', {}))} on {ds.get('format', '?')} "
                 f"{ds.get('split_resolved') or ds.get('split', '')} — prompt {prompt.get('mode', '?')}")
        if m.get("training"):  # a training run's final validation of best.pt (dermaseg train)
            parts += [f"<h1>dermaseg training run: {_e(d.name)}</h1>",
                      f"<p class='note'>Final validation of best.pt: {_e(title)}; scored through the "
                      "Predictor and the evaluator, as <code>dermaseg evaluate --model best.pt</code> "
                      "scores.</p>"]
        else:
            parts.append(f"<h1>dermaseg evaluation: {_e(title)}</h1>")
        parts += [_meta_section(m), "<h2>Summary</h2>", _summary_section(m)]
        pooled = m.get("summary", {}).get("pooled", {})
        cases = run["cases"]
        parts.append("<h2>Examples: best, median and worst by Dice (melSeg Fig. 6)</h2>")
        parts.append(_img(F.case_panels(d, cases, fig_dir / "cases.png"),
                          "input (prompt dashed cyan) | ground truth | prediction | overlay: truth "
                          "green, prediction yellow. " + _e(run["cases_note"])))
        parts.append("<h2>Contours (SkinSAM Fig. 3)</h2>")
        parts.append(_img(F.contour_grid(d, cases, fig_dir / "contours.png"),
                          "ground truth contour red, prediction contour green"))
        parts.append("<h2>Distribution of per-image scores (SkinSAM Fig. 4)</h2>")
        parts.append(_img(F.metric_histograms(run["rows"], fig_dir / "histograms.png"),
                          "per-image Dice, IoU and accuracy; dashed line = per-image mean"))
        dx_fig = F.diagnosis_histograms(run["rows"], fig_dir / "histograms_by_diagnosis.png")
        if dx_fig is not None:
            parts.append("<h2>Per diagnosis (SkinSAM Fig. 5)</h2>")
            parts.append(_img(dx_fig, "per-image Dice, IoU and accuracy, one row per diagnosis"))
        qfig = F.quality_calibration(run["rows"], m.get("predicted_quality"), fig_dir / "quality.png")
        if qfig is not None:
            parts.append("<h2>Predicted quality against the truth</h2>")
            parts.append(_img(qfig, "each image's predicted quality (the automatic pipeline's estimate of its "
                                    "IoU, made without the truth) against its true IoU; the dotted lines mark "
                                    "the ISIC failure threshold 0.65, below which masks are flagged "
                                    "predicted-failure"))
        parts.append(_diagnosis_section(m))
        parts.append("<h2>Pixel confusion matrix (U-Net paper)</h2>")
        parts.append(_img(F.confusion_heatmap(pooled, fig_dir / "confusion.png"),
                          "pooled pixel counts over all images, each row normalised to 1"))
    else:
        parts.append(f"<h1>dermaseg training run: {_e(d.name)}</h1>")
        vm = run["val_metrics"]
        if vm and "per_image_mean" in vm:  # a run folder written before training scored through evaluate
            parts.append("<h2>Validation of the best checkpoint (val_metrics.json)</h2>")
            parts.append(_summary_section({"summary": vm, "empty_mask_rule": "as dermaseg.evaluation.metrics"}))
            parts.append(f"<p class='note'>scored at: {_e(vm.get('resolution', '?'))}; "
                         f"threshold {_e(vm.get('threshold', '?'))}</p>")
            parts.append(_img(F.metric_histograms(run["val_rows"], fig_dir / "histograms.png"),
                              "per-image Dice, IoU and accuracy on the validation images"))
            parts.append(_img(F.confusion_heatmap(vm.get("pooled", {}), fig_dir / "confusion.png"),
                              "pooled pixel counts over the validation images, each row normalised to 1"))
    if run["history"]:
        parts.append("<h2>Training curves</h2>")
        parts.append(_img(F.training_curves(run["history"], fig_dir / "training.png"),
                          "loss per epoch (training, validation) and validation Dice / IoU"))
    if run["cv_table"]:
        parts.append("<h2>Cross-validation folds</h2>" + _table(run["cv_table"], "one row per fold (cv_table.csv)"))
        if run["cv_summary"]:
            parts.append(f"<pre class='note'>{_e(json.dumps(run['cv_summary'], indent=1))}</pre>")
    if run["sweep_table"]:
        parts.append("<h2>Hyper-parameter sweep (melSeg Table I)</h2>"
                     + _table(run["sweep_table"], "mean and std over folds (sweep_table.csv)"))
    if run["config"]:
        parts.append("<h2>Run configuration</h2>"
                     f"<pre class='note'>{_e(json.dumps(run['config'], indent=1))}</pre>")
    doc = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
           "<meta name='viewport' content='width=device-width, initial-scale=1'>"
           f"<title>dermaseg report — {_e(d.name)}</title><style>{CSS}</style></head><body>"
           + "\n".join(p for p in parts if p)
           + "<p class='note'>Rendered by dermaseg from the run's saved files; no metric was recomputed.</p>"
           "</body></html>")
    out = d / "report.html"
    write_text(out, doc)
    return out
