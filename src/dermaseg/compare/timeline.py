"""A lesion's timeline in a workspace: its visits in order, each compared with the one before.

Images whose ``metadata.csv`` rows share a ``lesion_id`` are visits of one lesion. They are ordered by a
date column (the first of ``DATE_COLUMNS`` present; ISO dates sort as text), then by image id. Each visit's
mask is its current one (a person's when edited or approved, else the automatic one; segmented by the
Predictor when the workspace has neither yet) and its pixel size the workspace's (the image's own
override, else the default).

Comparisons are cached in ``DIR/.compare/<before>__<after>.json`` (compare.json records) with the key
they were computed from (both images' mask versions and statuses, pixel sizes and the model version);
a changed key recomputes. Nothing of the workspace's own state is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dermaseg.compare.run import compare_arrays
from dermaseg.errors import DermasegError
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import read_image, write_text
from dermaseg.workspace.build import read_workspace_metadata
from dermaseg.workspace.layout import METADATA_FILE

__all__ = ["lesions", "lesion_timeline", "DATE_COLUMNS", "CACHE_DIR"]

DATE_COLUMNS = ("date", "visit_date", "acquired", "acquisition_date", "datetime")
CACHE_DIR = ".compare"


def _visits_by_lesion(ws: Any) -> tuple[dict[str, list[dict[str, str]]], str | None]:
    columns, rows = read_workspace_metadata(Path(ws.root) / METADATA_FILE)
    date_col = next((c for c in DATE_COLUMNS if c in columns), None)
    out: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        lid = (r.get("lesion_id") or "").strip()
        if lid and r.get("image_id") and ws.has(r["image_id"]):
            out.setdefault(lid, []).append(r)
    for v in out.values():
        v.sort(key=lambda r: ((r.get(date_col) or "").strip() if date_col else "", r["image_id"]))
    return out, date_col


def lesions(ws: Any) -> list[dict[str, Any]]:
    """Every lesion id of the workspace with its number of visits (those with two or more can be compared)."""
    by, _ = _visits_by_lesion(ws)
    return [{"lesion_id": k, "visits": len(v)} for k, v in sorted(by.items())]


def _mask(ws: Any, image_id: str, rgb, predictor_box: list) -> Any:
    m = ws.current_mask(image_id)
    if m is not None:
        return m, ws.image(image_id)["status"]
    if not predictor_box:
        predictor_box.append(load_predictor("default"))
    p = predictor_box[0]
    p.set_image(rgb)
    return p.predict().mask, "segmented now"


def lesion_timeline(ws: Any, lesion_id: str, predictor: Any = None) -> dict[str, Any]:
    """``{lesion_id, date_column, visits: [{id, name, date, status, version, pixel_size}], comparisons:
    [{before, after, cached, changed, status, exceeded, registration, before_measurements,
    after_measurements, change, warnings}]}``; an unknown lesion id -> :class:`DermasegError`."""
    by, date_col = _visits_by_lesion(ws)
    if lesion_id not in by:
        raise DermasegError(f"lesion {lesion_id}: no image of the workspace has this lesion_id")
    visits = []
    for r in by[lesion_id]:
        row = ws.image(r["image_id"])
        visits.append({"id": row["id"], "name": row["name"], "date": (r.get(date_col) or None) if date_col else None,
                       "status": row["status"], "version": row["version"],
                       "pixel_size": ws.effective_pixel_size(row)})
    box = [predictor] if predictor is not None else []
    comparisons = []
    cache = Path(ws.root) / CACHE_DIR
    for vb, va in zip(visits, visits[1:], strict=False):
        key = {"before": [vb["id"], vb["version"], vb["status"], vb["pixel_size"]],
               "after": [va["id"], va["version"], va["status"], va["pixel_size"]], "model": ws.model_version}
        path = cache / f"{vb['id']}__{va['id']}.json"
        rec = _cached(path, key)
        cached = rec is not None
        if rec is None:
            b, a = read_image(ws.image_path(vb["id"])), read_image(ws.image_path(va["id"]))
            mb, sb = _mask(ws, vb["id"], b, box)
            ma, sa = _mask(ws, va["id"], a, box)
            rec, _ = compare_arrays(b, a, mb, ma, pixel_size_before=vb["pixel_size"],
                                    pixel_size_after=va["pixel_size"])
            rec["segmentation"] = {"before": {"source": sb}, "after": {"source": sa}}
            if "segmented now" not in (sb, sa):  # a mask made now is not the workspace's: not cached
                write_text(path, json.dumps({"key": key, "record": rec}, allow_nan=False) + "\n")
        comparisons.append({"before": vb["id"], "after": va["id"], "cached": cached, "changed": rec["changed"],
                            "status": rec["status"], "exceeded": rec["exceeded"],
                            "registration": rec["registration"], "before_measurements": rec["before"],
                            "after_measurements": rec["after"], "change": rec["change"],
                            "warnings": rec["warnings"], "segmentation": rec["segmentation"]})
    return {"lesion_id": lesion_id, "date_column": date_col, "visits": visits, "comparisons": comparisons}


def _cached(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("record") if data.get("key") == json.loads(json.dumps(key)) else None
