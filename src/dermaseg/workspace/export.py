"""``dermaseg workspace status`` and ``dermaseg workspace export``.

Export writes, for every reviewed image (edited or approved; ``approved_only`` for approved alone):
``masks/<id>.png`` (0/255), ``overlays/<id>.png`` (the mask's outline on the image), ``measurements.csv``
(:func:`dermaseg.measure.measure` with each image's pixel size: the columns of ``dermaseg measure``),
``images.csv`` (id, name, status, version, predicted quality, model version, flags, pixel size, note,
reviewer, updated) for every image, and ``review_log.csv`` (the events). ``--out`` ending in ``.zip`` is a
ZIP file, anything else a folder; either is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.io import check_out, read_image, read_mask, write_png, write_text
from dermaseg.measure import measure
from dermaseg.measure.files import write_csv
from dermaseg.overlays import draw_overlay
from dermaseg.workspace.layout import STATUSES
from dermaseg.workspace.store import Workspace

__all__ = ["summary", "format_summary", "export_workspace", "format_log", "IMAGE_COLUMNS", "LOG_COLUMNS"]

IMAGE_COLUMNS = ("id", "name", "status", "version", "predicted_quality", "model_version", "flags", "pixel_size",
                 "note", "reviewer", "updated_at")
LOG_COLUMNS = ("id", "time", "user", "remote", "action", "image_id", "detail")


def summary(ws: Workspace) -> dict[str, Any]:
    """Counts by status, by flag and by reviewer, the default pixel size and the model version."""
    rows = ws.images()
    flags = Counter(f for r in rows for f in r["flags"])
    reviewers = Counter(r["reviewer"] for r in rows if r["reviewer"] and r["status"] != "auto")
    return {"name": ws.name, "path": str(ws.root), "images": len(rows), "counts": ws.counts(),
            "flags": dict(sorted(flags.items())), "reviewers": dict(sorted(reviewers.items())),
            "pending_auto_masks": sum(r["predicted_quality"] is None and r["model_version"] is None for r in rows),
            "pixel_size": ws.pixel_size, "model_version": ws.model_version}


def format_summary(s: dict[str, Any]) -> str:
    """The text ``dermaseg workspace status`` prints."""
    lines = [f"workspace {s['name']} ({s['path']}): {s['images']} images",
             "status:    " + ", ".join(f"{k} {s['counts'][k]}" for k in STATUSES),
             "flags:     " + (", ".join(f"{k} {v}" for k, v in s["flags"].items()) or "none"),
             "reviewers: " + (", ".join(f"{k} {v}" for k, v in s["reviewers"].items()) or "none"),
             f"pixel size: {s['pixel_size']:g} mm" if s["pixel_size"] else "pixel size: not set",
             f"model:     {s['model_version']} ({s['pending_auto_masks']} automatic masks not computed yet)"]
    return "\n".join(lines)


def _csv_text(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else r[c]) for c in columns})
    return buf.getvalue()


def format_log(ws: Workspace, image_id: str | None = None) -> str:
    """The review log as CSV (``detail`` as JSON)."""
    rows = [{**e, "detail": json.dumps(e["detail"], sort_keys=True)} for e in ws.log(image_id)]
    return _csv_text(LOG_COLUMNS, rows)


def _write_into(ws: Workspace, folder: Path, approved_only: bool) -> int:
    rows = ws.images()
    wanted = ("approved",) if approved_only else ("edited", "approved")
    reviewed = [r for r in rows if r["status"] in wanted and r["has_mask"]]
    records = []
    for r in reviewed:
        mask = read_mask(ws.mask_path(r["id"]))
        rgb = read_image(ws.image_path(r))
        write_png(folder / "masks" / f"{r['id']}.png", mask)
        write_png(folder / "overlays" / f"{r['id']}.png", draw_overlay(rgb, mask))
        records.append((r["id"], measure(mask, rgb, pixel_size=ws.effective_pixel_size(r))))
    write_csv(folder / "measurements.csv", records)
    write_text(folder / "images.csv", _csv_text(IMAGE_COLUMNS, [{**r, "flags": ";".join(r["flags"])} for r in rows]))
    write_text(folder / "review_log.csv", format_log(ws))
    return len(reviewed)


def export_workspace(ws: Workspace, out: str | os.PathLike, approved_only: bool = False) -> tuple[Path, int]:
    """Write the export (module docstring) to ``out`` (``.zip``: a ZIP file; else a folder that must not
    exist or be empty). Returns (``out``, number of masks)."""
    out_p = Path(out).expanduser()
    as_zip = out_p.suffix.lower() == ".zip"
    check_out(out_p, kind="file" if as_zip else "folder")
    if not as_zip and out_p.is_dir() and any(out_p.iterdir()):
        raise DermasegError(f"--out {out_p}: folder is not empty")
    if out_p.resolve().is_relative_to(ws.root.resolve()):
        raise DermasegError(f"--out {out_p}: inside the workspace; write the export elsewhere")
    out_p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_p.name[:40]}.", dir=out_p.parent))
    try:
        n = _write_into(ws, tmp, approved_only)
        if as_zip:
            part = tmp / "export.zip.part"
            with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED) as z:
                for f in sorted(tmp.rglob("*")):
                    if f.is_file() and f != part:
                        z.write(f, f.relative_to(tmp).as_posix())
            os.replace(part, out_p)
        else:
            if out_p.is_dir():
                out_p.rmdir()
            os.replace(tmp, out_p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_p, n
