"""``dermaseg compare --pairs CSV --out DIR``: a follow-up series, one comparison per pair.

The CSV (UTF-8, a header row) is either

- pairs: ``before,after`` (+ optional ``name``, ``pixel_size``, ``pixel_size_before``,
  ``pixel_size_after``, ``mask_before``, ``mask_after``), one comparison per row; or
- visits: ``image`` (+ optional ``lesion_id``, ``date``, ``pixel_size``, ``mask``): the visits of each
  lesion in date order (rows without a date keep the file's order), each compared with the one before.

Relative paths are relative to the CSV's folder. Every row is checked before any work (a missing column
or file, a bad pixel size: one line naming the CSV, the row and the problem). Each comparison goes to
``DIR/<name>/`` (``name``: the row's ``name``, else ``NNN_<before stem>__<after stem>``), and
``DIR/series.csv`` gets one row per comparison; an image that fails to read is that row's ``error``
(exit code 1), the others still run. The Predictor is loaded once.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from dermaseg.compare.run import compare, pixel_sizes
from dermaseg.errors import DataError, DermasegError
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import check_out, write_text

__all__ = ["read_pairs", "compare_pairs", "SERIES_COLUMNS"]

SERIES_COLUMNS = ("name", "before", "after", "status", "changed", "exceeded", "registration_ok", "area_mm2",
                  "area_pct", "diameter_mm", "diameter_pct", "asymmetry", "colours_gained", "colours_lost",
                  "dice", "error")


def _path(base: Path, v: str | None) -> Path | None:
    if v is None or not v.strip():
        return None
    p = Path(v.strip())
    return p if p.is_absolute() else base / p


def _num(v: str | None) -> float | None:
    return float(v) if v is not None and v.strip() else None


def read_pairs(csv_path: str | Path) -> list[dict[str, Any]]:
    """The comparisons a pairs or visits CSV asks for (module docstring), checked; each a dict of
    ``name, before, after, mask_before, mask_after, pixel_size_before, pixel_size_after``."""
    p = Path(csv_path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{p}: cannot read ({e})") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    cols = set(rows[0]) if rows else set()
    base = p.resolve().parent
    if {"before", "after"} <= cols:
        raw = [(i + 2, r, r) for i, r in enumerate(rows)]
        get = {"before": "before", "after": "after", "mask_before": "mask_before", "mask_after": "mask_after"}
    elif "image" in cols:
        raw = []
        groups: dict[str, list[tuple[int, dict]]] = {}
        for i, r in enumerate(rows):
            groups.setdefault((r.get("lesion_id") or "").strip(), []).append((i + 2, r))
        for visits in groups.values():
            visits.sort(key=lambda x: ((x[1].get("date") or "").strip(), x[0]))
            raw += [(line, prev, cur) for (_, prev), (line, cur) in zip(visits, visits[1:], strict=False)]
        get = {"before": "image", "after": "image", "mask_before": "mask", "mask_after": "mask"}
    else:
        raise DataError(f"{p}: needs the columns before,after (pairs) or image[,lesion_id,date] (visits)")
    if not raw:
        raise DataError(f"{p}: no pairs to compare")
    out = []
    for k, (line, rb, ra) in enumerate(raw):
        where = f"{p}: row {line}"
        job: dict[str, Any] = {
            "before": _path(base, rb.get(get["before"])), "after": _path(base, ra.get(get["after"])),
            "mask_before": _path(base, rb.get(get["mask_before"])), "mask_after": _path(base, ra.get(get["mask_after"])),
        }
        for key in ("before", "after", "mask_before", "mask_after"):
            if key in ("before", "after") and job[key] is None:
                raise DataError(f"{where}: empty '{get[key]}'")
            if job[key] is not None and not job[key].is_file():
                raise DataError(f"{where}: {job[key]}: no such file")
        try:
            single_b, single_a = _num(rb.get("pixel_size")), _num(ra.get("pixel_size"))
            psb = _num(rb.get("pixel_size_before")) if get["before"] == "before" else single_b
            psa = _num(ra.get("pixel_size_after")) if get["after"] == "after" else single_a
            if get["before"] == "before" and single_b is not None:
                job["pixel_size_before"], job["pixel_size_after"] = pixel_sizes(single_b, psb, psa)
            else:
                job["pixel_size_before"], job["pixel_size_after"] = pixel_sizes(None, psb, psa)
        except (ValueError, DermasegError) as e:
            raise DataError(f"{where}: {e}") from None
        name = (rb.get("name") or "").strip() if get["before"] == "before" else ""
        if not name:
            name = f"{k + 1:03d}_{job['before'].stem}__{job['after'].stem}"
        job["name"] = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]
        out.append(job)
    names = [j["name"] for j in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise DataError(f"{p}: two comparisons are named '{dup}'")
    return out


def compare_pairs(csv_path: str | Path, out: str | Path, model: str = "default", report: bool = True
                  ) -> tuple[Path, int]:
    """Run every comparison of ``csv_path`` into ``out``; returns (series.csv, number of failed rows)."""
    check_out(out, kind="folder")
    jobs = read_pairs(csv_path)
    predictor = None
    if any(j["mask_before"] is None or j["mask_after"] is None for j in jobs):
        predictor = load_predictor(model)
    rows, failed = [], 0
    for j in jobs:
        row = dict.fromkeys(SERIES_COLUMNS, "")
        row.update({"name": j["name"], "before": str(j["before"]), "after": str(j["after"])})
        try:
            rec = compare(j["before"], j["after"], Path(out) / j["name"], pixel_size_before=j["pixel_size_before"],
                          pixel_size_after=j["pixel_size_after"], masks_before=j["mask_before"],
                          masks_after=j["mask_after"], model=model, predictor=predictor, report=report)
        except DermasegError as e:
            failed += 1
            row["error"] = str(e)
            rows.append(row)
            continue
        ch = rec["change"]
        row.update({"status": rec["status"], "changed": str(rec["changed"]).lower(),
                    "exceeded": ";".join(rec["exceeded"]), "registration_ok": str(rec["registration"]["ok"]).lower()})
        for k in ("area_mm2", "area_pct", "diameter_mm", "diameter_pct", "asymmetry", "dice"):
            row[k] = "" if ch.get(k) is None else str(ch[k])
        row["colours_gained"] = ";".join(ch.get("colours_gained") or [])
        row["colours_lost"] = ";".join(ch.get("colours_lost") or [])
        rows.append(row)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SERIES_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path = Path(out) / "series.csv"
    write_text(path, buf.getvalue())
    return path, failed
