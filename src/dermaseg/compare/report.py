"""The one-page comparison report: ``compare.png`` and ``compare.html``, rendered from a compare folder.

Reads only what :func:`dermaseg.compare.run.write_outputs` saved (``compare.json`` and its PNGs), never
recomputes. The figure: BEFORE with its contour, AFTER aligned onto BEFORE with its contour, and both
contours over BEFORE with the region that grew tinted red and the region that shrank tinted blue.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.errors import DataError
from dermaseg.io import read_image, read_mask, write_png, write_text
from dermaseg.overlays import outline

__all__ = ["render_compare", "compare_figure", "BEFORE_RGB", "AFTER_RGB", "GROWN_RGB", "SHRUNK_RGB"]

BEFORE_RGB = (0, 200, 255)  # cyan
AFTER_RGB = (255, 150, 0)  # orange
GROWN_RGB = (235, 30, 30)  # red
SHRUNK_RGB = (40, 90, 255)  # blue


def _tint(rgb: np.ndarray, m: np.ndarray, colour: tuple[int, int, int], a: float = 0.5) -> None:
    rgb[m] = ((1 - a) * rgb[m] + a * np.asarray(colour, np.float32)).astype(np.uint8)


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    import cv2

    bar = np.full((28, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)
    return np.vstack([bar, panel])


def compare_figure(before: np.ndarray, before_mask: np.ndarray, after_aligned: np.ndarray | None,
                   after_mask: np.ndarray | None, grown: np.ndarray | None, shrunk: np.ndarray | None
                   ) -> np.ndarray:
    """RGB uint8: the three panels side by side (module docstring), each at most 420 px high. Without
    an aligned AFTER (registration failed) only BEFORE is drawn."""
    import cv2

    h, w = before.shape[:2]
    f = min(1.0, 420 / h)
    size = (max(2, round(w * f)), max(2, round(h * f)))

    def small(a: np.ndarray, mask: bool = False) -> np.ndarray:
        if mask:
            return cv2.resize(a.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        return cv2.resize(a, size, interpolation=cv2.INTER_AREA)

    t = max(1, round(max(size) / 300))
    b, bm = small(before), small(before_mask, True)
    p1 = b.copy()
    p1[outline(bm, t)] = BEFORE_RGB
    panels = [_label(p1, "BEFORE")]
    if after_aligned is not None and after_mask is not None:
        am = small(after_mask, True)
        p2 = small(after_aligned)
        p2[outline(am, t)] = AFTER_RGB
        p3 = b.copy()
        if grown is not None:
            _tint(p3, small(grown, True), GROWN_RGB)
        if shrunk is not None:
            _tint(p3, small(shrunk, True), SHRUNK_RGB)
        p3[outline(bm, t)] = BEFORE_RGB
        p3[outline(am, t)] = AFTER_RGB
        panels += [_label(p2, "AFTER, aligned onto BEFORE"), _label(p3, "both: red grew, blue shrank")]
    gap = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
    out = [panels[0]]
    for p in panels[1:]:
        out += [gap, p]
    return np.hstack(out)


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "—"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    if isinstance(v, float):
        return f"{v:.3g}{unit}" if abs(v) < 1000 else f"{v:.0f}{unit}"
    return f"{v}{unit}"


def _limit(limits: dict[str, Any], key: str) -> str:
    lim = limits.get(key)
    if not lim:
        return "—"
    lo, hi = lim.get("lower"), lim.get("upper")
    if lo is not None and hi is not None:
        return f"{lo:.3g} to {hi:.3g}"
    return f"≥ {lo:.3g}" if lo is not None else f"≤ {hi:.3g}"


def render_compare(folder: str | Path) -> Path:
    """Render ``compare.png`` and ``compare.html`` in a compare output ``folder``; returns the HTML path."""
    d = Path(folder)
    try:
        rec = json.loads((d / "compare.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{d / 'compare.json'}: cannot read ({e})") from None
    files = rec.get("files", {})

    def load(key: str, mask: bool = False) -> np.ndarray | None:
        name = files.get(key)
        if not name:
            return None
        return read_mask(d / name) if mask else read_image(d / name)

    fig = compare_figure(load("before"), load("before_mask", True), load("after_aligned"),
                         load("after_aligned_mask", True), load("grown", True), load("shrunk", True))
    write_png(d / "compare.png", fig)
    path = d / "compare.html"
    write_text(path, _html(rec))
    return path


def _html(rec: dict[str, Any]) -> str:
    e = html.escape
    ch, b, a = rec.get("change", {}), rec.get("before", {}), rec.get("after", {})
    limits = rec.get("thresholds", {}).get("limits", {})
    reg = rec.get("registration", {})
    status = rec.get("status")
    if status == "registration_failed":
        verdict = f"Not compared: the registration failed ({e(str(reg.get('reason')))}). This is not a change."
    elif status != "compared":
        verdict = f"Not judged ({e(str(status))}): see the warnings."
    elif rec.get("changed"):
        verdict = "CHANGED: beyond the measured repeatability in " + e(", ".join(rec.get("exceeded", [])))
    else:
        verdict = "No change beyond the measured repeatability."
    rows = [
        ("area", _fmt(b.get("area_mm2"), " mm²"), _fmt(a.get("area_mm2"), " mm²"),
         f"{_fmt(ch.get('area_mm2'), ' mm²')} ({_fmt(ch.get('area_pct'), ' %')})", _limit(limits, "area_pct") + " %"),
        ("diameter", _fmt(b.get("diameter_mm"), " mm"), _fmt(a.get("diameter_mm"), " mm"),
         f"{_fmt(ch.get('diameter_mm'), ' mm')} ({_fmt(ch.get('diameter_pct'), ' %')})",
         _limit(limits, "diameter_pct") + " %"),
        ("asymmetry", _fmt(b.get("asymmetry")), _fmt(a.get("asymmetry")), _fmt(ch.get("asymmetry")),
         _limit(limits, "asymmetry")),
        ("border score", _fmt(b.get("border_score")), _fmt(a.get("border_score")), _fmt(ch.get("border")),
         _limit(limits, "border")),
        ("colours", _fmt(b.get("colours")), _fmt(a.get("colours")),
         f"gained: {_fmt(ch.get('colours_gained'))}; lost: {_fmt(ch.get('colours_lost'))}",
         _limit(limits, "colours") + " changed"),
        ("overlap (Dice)", "", "", _fmt(ch.get("dice")), _limit(limits, "dice")),
        ("grew / shrank", "", "", f"{_fmt(ch.get('grown_pct'), ' %')} / {_fmt(ch.get('shrunk_pct'), ' %')} of "
         "BEFORE", ""),
    ]
    body = "".join(f"<tr><th>{e(n)}</th><td>{e(x)}</td><td>{e(y)}</td><td>{e(z)}</td><td>{e(t)}</td></tr>"
                   for n, x, y, z, t in rows)
    q = reg.get("quality", {})
    regline = (f"{'ok' if reg.get('ok') else 'FAILED'} — {e(str(reg.get('method')))}; inliers {q.get('inliers')}"
               f" of {q.get('matches')} matches, correlation {q.get('ecc')}, overlap {q.get('overlap')}, "
               f"scale {q.get('scale')}, rotation {q.get('rotation_deg')}°")
    warns = "".join(f"<li>{e(w)}</li>" for w in rec.get("warnings", []))
    inp = rec.get("inputs", {})
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dermaseg compare</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.v{{font-size:1.2em;font-weight:bold}}
img{{max-width:100%}}</style></head><body>
<h1>Lesion change between two visits</h1>
<p>BEFORE: {e(str(inp.get('before')))} · AFTER: {e(str(inp.get('after')))}</p>
<p class="v">{verdict}</p>
<img src="compare.png" alt="BEFORE and AFTER contours, aligned, with the grown and shrunk regions">
<p>Contours: BEFORE cyan, AFTER orange. Overlay: red = grew, blue = shrank.</p>
<table><tr><th></th><th>BEFORE</th><th>AFTER</th><th>change</th><th>repeatability limits (95 %)</th></tr>
{body}</table>
<p>Registration (AFTER onto BEFORE): {regline}</p>
<p>Pixel size: BEFORE {_fmt(rec.get('pixel_size_before'), ' mm')}, AFTER {_fmt(rec.get('pixel_size_after'), ' mm')}.
Limits measured by {e(str(rec.get('thresholds', {}).get('source')))} on {e(str(rec.get('thresholds', {}).get('measured')))}
(docs/compare.md).</p>
{f'<h2>Warnings</h2><ul>{warns}</ul>' if warns else ''}
</body></html>
"""
