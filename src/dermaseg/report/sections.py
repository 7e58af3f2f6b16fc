"""The report's HTML sections, each built from saved run files only: the protocol header (the same for an
evaluation, a training run and a cross-validation), the summary table, the per-diagnosis table and the
cross-validation tables.

The protocol header answers, for any number in the report: which model, on which dataset and split, how
many images (and how they were chosen), from which prompt source, at which resolution, with which seed.
Spreads are always a standard deviation (population, ddof=0) and say so; no table prints a variance.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from dermaseg.evaluation.metrics import METRICS

__all__ = ["esc", "num", "cell", "table", "model_label", "protocol_table", "evaluation_protocol",
           "training_protocol", "config_protocol", "cv_protocol", "summary_section", "diagnosis_section",
           "cv_section"]

Rows = list[tuple[str, str]]  # (label, already-escaped HTML)


def esc(x: Any) -> str:
    """HTML-escaped text."""
    return html.escape(str(x))


def num(v: Any, digits: int = 4) -> str:
    """A number for a table: ``digits`` decimals, thousands separators for large integers, – when absent."""
    if v is None or v == "":
        return "–"
    try:
        f = float(v)
    except (TypeError, ValueError):
        return esc(v)
    if f != f:  # NaN
        return "–"
    if f.is_integer() and abs(f) >= 1000:
        return f"{int(f):,}"
    return f"{f:.{digits}f}"


def cell(v: Any) -> str:
    """A CSV cell for display: integers as integers, small numbers (lr) in 3 significant digits."""
    t = str(v).strip()
    try:
        f = float(t)
    except ValueError:
        return esc(t)
    if f != f:
        return "–"
    if re.fullmatch(r"[+-]?\d+", t):
        return f"{int(t):,}" if abs(int(t)) >= 10000 else t
    if f != 0 and abs(f) < 0.01:
        return f"{f:.3g}"
    return f"{f:.4f}"


def table(rows: Sequence[dict[str, Any]], caption: str = "") -> str:
    """An HTML table of CSV rows (the first column left-aligned)."""
    if not rows:
        return ""
    cols = list(rows[0].keys())
    head = "".join(f"<th class='l'>{esc(c)}</th>" if i == 0 else f"<th>{esc(c)}</th>" for i, c in enumerate(cols))
    body = []
    for r in rows:
        cells = [f"<td class='l'>{cell(r.get(c, ''))}</td>" if i == 0 else f"<td>{cell(r.get(c, ''))}</td>"
                 for i, c in enumerate(cols)]
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption class='note'>{esc(caption)}</caption>" if caption else ""
    return f"<div class='scroll'><table>{cap}<tr>{head}</tr>{''.join(body)}</table></div>"


def model_label(model: dict) -> str:
    """``default (fpn-mobilenet_v2)`` when the user asked for a name that resolved to an architecture."""
    name, asked = str(model.get("name", "?")), model.get("requested")
    if asked and asked != name and "/" not in str(asked) and not str(asked).endswith((".pt", ".pth")):
        return f"{asked} ({name})"
    return name


def protocol_table(rows: Rows) -> str:
    """The protocol header: one row per (label, HTML value)."""
    body = "".join(f"<tr><th class='l'>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table class='meta'>{body}</table>"


def _images_scored(m: dict[str, Any]) -> str:
    ds = m.get("dataset", {})
    count = f"{ds.get('count', m.get('summary', {}).get('n', '?'))}"
    smp = m.get("sample") or {}
    if smp.get("mode") in ("stratified", "first"):
        per = ", ".join(f"{k} {v.get('sampled')}/{v.get('available')}" for k, v in smp.get("per_diagnosis", {}).items())
        how = (f"seeded sample (seed {smp.get('seed')}) stratified by diagnosis" if smp["mode"] == "stratified"
               else "the first N in the dataset's order, not a random sample")
        count += f" of {smp.get('available', '?')} (--limit {smp.get('requested')}: {how}; {per})"
    elif ds.get("limit"):
        count += f" of {ds.get('available', '?')} (--limit {ds['limit']})"
    return count


def evaluation_protocol(m: dict[str, Any]) -> Rows:
    """The protocol header of an evaluation (metrics.json): model, dataset, split, images scored, prompt
    and its source, resolution, seed, speed, version."""
    ds, model, prompt = m.get("dataset", {}), m.get("model", {}), m.get("prompt", {})
    timing, res = m.get("timing", {}), m.get("resolution", {})
    h, w = res.get("height", {}), res.get("width", {})
    size = (f"{w.get('min')}×{h.get('min')}" if (h.get("min") == h.get("max") and w.get("min") == w.get("max"))
            else f"{w.get('min')}–{w.get('max')} × {h.get('min')}–{h.get('max')}")
    ips = timing.get("images_per_second")
    mdesc = (model_label(model) + (f" (checkpoint {model['checkpoint']})" if model.get("checkpoint") else "")
             + (f", auto={model['auto']}" if model.get("auto") else "")
             + (f", tta={model['tta']}" if model.get("tta") is not None else "")
             + (f", postprocess={model['postprocess']}" if "postprocess" in model else ""))
    split = str(ds.get("split", "?"))
    if ds.get("split_resolved") and ds.get("split_resolved") != ds.get("split"):
        split += f" → {ds['split_resolved']}"
    return [
        ("model", esc(mdesc)),
        ("dataset", esc(f"{ds.get('format', '?')} at {ds.get('root', '?')}")),
        ("split", esc(split)),
        ("images scored", esc(_images_scored(m))),
        ("prompt", f"<b>{esc(prompt.get('mode', '?'))}</b> — source: <b>{esc(prompt.get('source', '?'))}</b>"),
        ("scored at", esc(f"{res.get('scored_at', '?')}; image sizes (W×H) {size}")),
        ("seed", esc(m.get("seed", "?"))),
        ("speed", esc(f"{num(timing.get('seconds_per_image'), 4)} s/image, {num(ips, 2)} images/s on "
                      f"{timing.get('device', '?')}, {timing.get('threads', '?')} threads (model time only: "
                      "set_image + predict, no file reading or writing)")),
        ("dermaseg", esc(f"{m.get('dermaseg_version', '?')}, {m.get('date', '?')}")),
    ]


def _input_size(recipe: dict[str, Any]) -> str:
    if recipe.get("kind", "cnn") != "cnn":
        return "the SAM model's own input (longest side resized, padded square)"
    size = recipe.get("input_size") or ["?", "?"]
    return f"{size[0]}×{size[1]} (H×W), resized by the one resize rule"


def training_protocol(config: dict[str, Any], history: Sequence[dict[str, Any]]) -> Rows:
    """The rows a training run adds to its header (config.json, history.csv): recipe, training images and
    resolution, epochs, optimiser."""
    r = config.get("recipe", {})
    monitor = r.get("monitor", "dice")
    best, top = None, float("-inf")
    for h in history:
        try:
            v = float(h.get(f"val_{monitor}") or "nan")
        except (TypeError, ValueError):
            continue
        if v == v and v > top:
            best, top = h.get("epoch"), v
    epochs = f"{len(history)} of {r.get('epochs', '?')} epochs" + (
        f", best epoch {best} by validation {monitor}" if best is not None else "")
    return [
        ("recipe", esc(f"{r.get('name', '?')} (seed {r.get('seed', '?')}): {r.get('model', '?')}, {r.get('kind', '?')} "
                       f"task")),
        ("training images", esc(f"{config.get('n_train', '?')} training, {config.get('n_val', '?')} validation "
                                f"({config.get('split', '?')})")),
        ("training resolution", esc(_input_size(r))),
        ("training", esc(f"{epochs}; loss {r.get('loss', '?')}, {r.get('optimizer', '?')} lr {r.get('lr', '?')} "
                         f"({r.get('schedule', '?')}), batch {r.get('batch_size', '?')}, augmentation "
                         f"{r.get('augment', '?')}; {config.get('device', '?')}, "
                         f"{config.get('torch_threads', '?')} threads")),
    ]


def config_protocol(config: dict[str, Any]) -> Rows:
    """The protocol header of a training run that has no final validation (no metrics.json), from its
    config.json alone."""
    r = config.get("recipe", {})
    prompt = ("none (a CNN takes no prompt)" if r.get("kind", "cnn") == "cnn"
              else f"{r.get('prompt', '?')} — source: ground truth (SkinSAM's simulation), during training")
    return [
        ("model", esc(r.get("model", "?"))),
        ("dataset", esc(f"{config.get('format', '?')} at {config.get('data', '?')}")),
        ("split", esc(config.get("split", "?"))),
        ("images", esc(f"{config.get('n_train', '?')} training, {config.get('n_val', 0)} validation: no final "
                       "validation was scored")),
        ("prompt", esc(prompt)),
        ("resolution", esc(_input_size(r))),
        ("seed", esc(config.get("seed", "?"))),
    ]


def cv_protocol(p: dict[str, Any]) -> Rows:
    """The protocol header of a cross-validation (cv_summary.json's ``protocol``)."""
    prompt = p.get("prompt", {})
    return [
        ("model", esc(p.get("model", "?"))),
        ("dataset", esc(f"{p.get('format', '?')} at {p.get('root', '?')}")),
        ("split", esc(p.get("split", "?"))),
        ("images scored", esc(p.get("images", "?"))),
        ("prompt", f"<b>{esc(prompt.get('mode', '?'))}</b> — source: <b>{esc(prompt.get('source', '?'))}</b>"),
        ("scored at", esc(p.get("scored_at", "?"))),
        ("training resolution", esc(p.get("training_resolution", "?"))),
        ("seed", esc(p.get("seed", "?"))),
    ]


#: (key, label) of the summary table rows, in order (from the metric table, evaluation/metrics.py)
SUMMARY_METRICS: tuple[tuple[str, str], ...] = tuple((m.key, m.label) for m in METRICS)


def summary_section(m: dict[str, Any]) -> str:
    """Per-image mean ± std and pooled scores side by side, with what each means."""
    s = m.get("summary", {})
    pm, pooled = s.get("per_image_mean", {}), s.get("pooled", {})
    rows = []
    for key, label in SUMMARY_METRICS:
        if key not in pm and key not in pooled:
            continue
        mean = pm.get(key, {})
        pi = f"{num(mean.get('mean'))} ± {num(mean.get('std'))}" if mean else "–"
        pool = num(pooled.get(key)) if key in pooled else "n/a"
        rows.append(f"<tr><td class='l'>{esc(label)}</td><td>{pi}</td><td>{pool}</td></tr>")
    return ("<table><tr><th class='l'>metric</th><th>per-image mean ± std</th><th>pooled</th></tr>"
            + "".join(rows) + "</table>"
            f"<p class='note'>Per-image mean: each image scored, then averaged (the ISIC convention; ± the std over "
            f"images, ddof=0). Pooled: pixel counts summed over all {s.get('n', '?')} images, then scored "
            "once (no pooled value for thresholded Jaccard or HD95). Empty-mask rule: "
            f"{esc(m.get('empty_mask_rule', ''))}.</p>")


def measurement_section(a: dict[str, Any] | None) -> str:
    """metrics.json's ``measurements`` (predicted vs true masks' lesion measurements) as one table."""
    if not a:
        return ""
    area, diam = a.get("area_px") or {}, a.get("diameter_px") or {}
    asym, axes, col = a.get("asymmetry") or {}, a.get("asymmetry_axes") or {}, a.get("colours") or {}

    def pct(v: Any) -> str:
        return "–" if v is None else f"{100 * float(v):.1f} %"

    rows = [
        ("area (px)", f"mean |error| {num(area.get('mae'), 1)}; relative error mean {pct(area.get('mre'))}, "
                      f"median {pct(area.get('median_re'))}; bias {num(area.get('bias'), 1)}"),
        ("maximum diameter (px)", f"mean |error| {num(diam.get('mae'), 2)}; relative error mean "
                                  f"{pct(diam.get('mre'))}, median {pct(diam.get('median_re'))}; Bland–Altman bias "
                                  f"{num(diam.get('bias'), 2)}, 95 % limits {num(diam.get('loa_low'), 2)} to "
                                  f"{num(diam.get('loa_high'), 2)}"),
        ("asymmetry", f"Pearson r {num(asym.get('pearson'), 3)}, Spearman ρ {num(asym.get('spearman'), 3)}, "
                      f"mean |error| {num(asym.get('mae'), 3)}; A score (0/1/2) equal on {pct(axes.get('agreement'))}"),
        ("colours", f"colour-set Jaccard {num(col.get('mean_jaccard'), 3)}, identical sets {pct(col.get('identical'))}, "
                    f"mean |Δ number of colours| {num(col.get('n_colours_mae'), 3)}"),
    ]
    body = "".join(f"<tr><td class='l'>{esc(k)}</td><td class='l'>{esc(v)}</td></tr>" for k, v in rows)
    return ("<table><tr><th class='l'>measurement</th><th class='l'>predicted mask against the true mask "
            f"(n = {a.get('n', '?')})</th></tr>" + body + "</table>"
            f"<p class='note'>{esc(a.get('note', ''))}</p>")


#: (key, column head, digits) of the per-diagnosis table (the metric table's rows with a ``short`` name)
DIAGNOSIS_METRICS: tuple[tuple[str, str, int], ...] = tuple((m.key, m.short, m.digits) for m in METRICS if m.short)


def diagnosis_section(m: dict[str, Any]) -> str:
    """SkinSAM Table 1's layout: one row per diagnosis, mean ± std of each metric (no variance)."""
    pdx = m.get("per_diagnosis") or {}
    if not pdx or list(pdx) == ["unlabelled"]:
        return ""
    head = ("<tr><th class='l'>diagnosis</th><th>n</th>" + "".join(f"<th>{esc(lab)}</th>" for _, lab, _ in DIAGNOSIS_METRICS)
            + "</tr>")
    body = []
    for g, entry in pdx.items():
        cells = []
        for k, _, d in DIAGNOSIS_METRICS:
            v = entry.get(k)
            cells.append(f"<td>{num(v.get('mean'), d)} ± {num(v.get('std'), d)}</td>" if v else "<td>–</td>")
        body.append(f"<tr><td class='l'>{esc(g)}</td><td>{entry.get('n', '')}</td>{''.join(cells)}</tr>")
    return ("<h2>Per diagnosis (SkinSAM Table 1)</h2><table>" + head + "".join(body) + "</table>"
            "<p class='note'>mean ± std over the images of each diagnosis (population std, ddof=0; SkinSAM's "
            "table prints a variance there).</p>")


def _mean_std(s: dict[str, Any] | None) -> str:
    return f"{num(s.get('mean'))} ± {num(s.get('std'))}" if s and s.get("mean") is not None else "–"


def cv_section(cv_table: Sequence[dict[str, Any]], summary: dict[str, Any] | None) -> str:
    """The fold table (cv_table.csv) and the mean ± std over folds of every metric (cv_summary.json)."""
    parts = ["<h2>Cross-validation folds</h2>", table(cv_table, "one row per fold (cv_table.csv): per-image means, "
                                                              "then pooled_* scores")]
    if summary:
        rows = []
        pm, pooled = summary.get("per_image_mean", {}), summary.get("pooled", {})
        for key, label in SUMMARY_METRICS:
            a, b = pm.get(key), pooled.get(key)
            if not a and not b:
                continue
            rows.append(f"<tr><td class='l'>{esc(label)}</td><td>{_mean_std(a)}</td><td>{_mean_std(b)}</td></tr>")
        done = summary.get("completed", [])
        parts.append("<h2>Mean over folds</h2><table><tr><th class='l'>metric</th><th>per-image mean: mean ± std "
                     "over folds</th><th>pooled: mean ± std over folds</th></tr>" + "".join(rows) + "</table>"
                     f"<p class='note'>{len(done)} of {summary.get('folds', '?')} folds finished; std over folds "
                     "is the population std (ddof=0). Each fold's own report is fold_&lt;i&gt;/report.html.</p>")
    return "".join(parts)
