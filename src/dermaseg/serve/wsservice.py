"""What the workspace routes do, without HTTP (``serve --workspace DIR``): the workspace's summary and image
list, saving a person's mask (with the version it was based on), review status and note, thumbnails,
uploads added to the workspace, and the automatic masks (computed by the Engine's automatic Predictor,
stored with their predicted quality, model version and flags, review flag included:
:func:`dermaseg.inference.flags.review_flags`).

Every mutating call takes ``user`` and ``remote`` (who, from where) for the review log.
"""

from __future__ import annotations

import io
import re
import shutil
from typing import Any, BinaryIO

import numpy as np

from dermaseg.compare.timeline import lesion_timeline, lesions
from dermaseg.errors import DermasegError
from dermaseg.inference.flags import FAILURE_JACCARD, REVIEW_JACCARD, review_flags
from dermaseg.io import read_image
from dermaseg.serve.engine import Engine
from dermaseg.serve.store import Entry, NotFound
from dermaseg.serve.wsstore import WorkspaceEntry, WorkspaceStore
from dermaseg.workspace.build import read_workspace_metadata
from dermaseg.workspace.files import copy_durably
from dermaseg.workspace.layout import METADATA_FILE
from dermaseg.workspace.store import Workspace

__all__ = ["auto_computer", "workspace_info", "list_images", "describe", "save_mask", "set_status",
           "thumbnail", "add_upload", "parse_if_match", "THUMB_PX"]

#: longest side of a list thumbnail, pixels
THUMB_PX = 96


def auto_computer(engine: Engine, ws: Workspace):
    """compute(image_id, rgb): the automatic Prediction of a workspace image, stored in the workspace."""
    def compute(image_id: str, rgb: np.ndarray):
        pred, version = engine.automatic_versioned(rgb)  # labelled with the model that made it
        ws.set_auto_mask(image_id, pred.mask, pred.quality, version, review_flags(pred.flags, pred.quality))
        return pred

    return compute


def entry_computer(compute):
    """The WorkspaceEntry hook: compute the automatic mask of an entry being loaded. Holds ``entry.lock``."""
    def on_load(entry: WorkspaceEntry) -> None:
        pred = compute(entry.id, entry.rgb)
        entry.quality, entry.flags = pred.quality, review_flags(pred.flags, pred.quality)
        entry.auto_mask = pred.mask

    return on_load


def parse_if_match(value: str | None) -> int | None:
    """``If-Match: 3`` (or ``"3"``, ``W/"3"``) -> 3; absent -> None (no check); anything else -> error."""
    if value is None or not value.strip() or value.strip() == "*":
        return None
    v = value.strip().removeprefix("W/").strip('"')
    if not v.isdigit():
        raise DermasegError(f"If-Match: expected the image's version (an integer), got {value!r}")
    return int(v)


def workspace_info(ws: Workspace) -> dict[str, Any]:
    """``GET /api/workspace``: name, counts by status, pixel size, model version, the flag cuts."""
    counts = ws.counts()
    return {"workspace": True, "name": ws.name, "counts": counts, "images": sum(counts.values()),
            "pixel_size": ws.pixel_size, "model_version": ws.model_version,
            "flag_cuts": {"predicted-failure": FAILURE_JACCARD, "review": REVIEW_JACCARD}}


def _public(row: dict[str, Any], ws: Workspace) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "status": row["status"],
            "predicted_quality": row["predicted_quality"], "flags": row["flags"], "reviewer": row["reviewer"],
            "version": row["version"], "note": row["note"], "width": row["width"], "height": row["height"],
            "pixel_size": ws.effective_pixel_size(row), "updated_at": row["updated_at"],
            "model_version": row["model_version"]}


def list_images(ws: Workspace, status: str | None = None, order: str | None = None, flagged: bool = False,
                limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """``GET /api/workspace/images``: ``[{id, name, status, predicted_quality, flags, reviewer, version, ...}]``."""
    return [_public(r, ws) for r in ws.images(status=status or None, order=order, flagged=flagged, limit=limit,
                                              offset=offset)]


def describe(store: WorkspaceStore, entry: Entry, base: dict[str, Any]) -> dict[str, Any]:
    """An image's info (``GET /api/images/{id}``) with its workspace state when it is a workspace image."""
    if not isinstance(entry, WorkspaceEntry):
        return {**base, "workspace": False}
    row = store.ws.image(entry.id)
    return {**base, **_public(row, store.ws), "workspace": True, "mask_kind": entry.mask_kind}


def save_mask(store: WorkspaceStore, entry: WorkspaceEntry, mask: np.ndarray, user: str, remote: str | None,
              if_version: int | None, source: str) -> dict[str, Any]:
    """Save a person's mask of ``entry`` (durably, version checked), then make it the entry's mask.
    Hold ``entry.lock``. Returns the image's public row."""
    row = store.ws.save_mask(entry.id, mask, user=user, if_version=if_version, remote=remote, source=source)
    entry.saved(mask, "prompt" if source == "prompt" else "edit")
    return _public(row, store.ws)


def set_status(store: WorkspaceStore, image_id: str, status: str, note: str | None, user: str,
               remote: str | None, if_version: int | None) -> dict[str, Any]:
    """``POST /api/images/{id}/status``: approved / skipped / edited, and the note."""
    entry = store.get(image_id)
    if not isinstance(entry, WorkspaceEntry):
        raise DermasegError(f"image {image_id}: an upload outside the workspace has no review status")
    with entry.lock:
        if not entry.auto_file.is_file() and status in ("approved", "edited") and entry.mask_kind == "auto":
            entry.load()  # computes the automatic mask, which approving then copies into masks/
        row = store.ws.set_status(image_id, status, user=user, note=note, if_version=if_version, remote=remote)
        if row["has_mask"] and entry.mask_kind == "auto":
            entry.mask_kind = "edit"
    return _public(row, store.ws)


def thumbnail(store: WorkspaceStore, image_id: str) -> bytes:
    """A JPEG of the image, longest side :data:`THUMB_PX`, cached in ``.auto/thumbs/``."""
    ws = store.ws
    row = ws.image(image_id)
    path = ws.root / ".auto" / "thumbs" / f"{image_id}.jpg"
    if path.is_file():
        return path.read_bytes()
    from PIL import Image

    rgb = read_image(ws.image_path(row), name=row["name"])
    im = Image.fromarray(rgb)
    im.thumbnail((THUMB_PX, THUMB_PX))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=80)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(buf.getvalue())
    tmp.replace(path)
    return buf.getvalue()


def _safe_stem(name: str) -> str:
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "upload"


def add_upload(store: WorkspaceStore, fileobj: BinaryIO, display: str, user: str,
               remote: str | None, max_pixels: int | None = None) -> str:
    """Keep an upload as a new workspace image (checked readable first); returns its id."""
    ws = store.ws
    ext = ("." + display.rsplit(".", 1)[-1].lower()) if "." in display else ".png"
    if not re.fullmatch(r"\.[a-z0-9]{1,5}", ext):
        ext = ".png"
    tmp = ws.root / "images" / f".upload-{id(fileobj)}.part"
    try:
        with open(tmp, "wb") as f:
            shutil.copyfileobj(fileobj, f, 1 << 20)
        rgb = read_image(tmp, name=display, max_pixels=max_pixels)  # --max-pixels: refused from the header
        stem, n = _safe_stem(display), 1
        image_id = stem
        while ws.has(image_id) or (ws.root / "images" / f"{image_id}{ext}").exists():
            n += 1
            image_id = f"{stem}_{n}"
        copy_durably(tmp, ws.root / "images" / f"{image_id}{ext}", link=True)
        h, w = rgb.shape[:2]
        ws.add_image(image_id, f"{image_id}{ext}", w, h, user=user, remote=remote, source="upload",
                     upload_name=display)
    finally:
        tmp.unlink(missing_ok=True)
    return image_id


def _lesion_of(ws: Workspace, image_id: str) -> str | None:
    """The ``lesion_id`` of a workspace image in its metadata.csv, or None."""
    _, rows = read_workspace_metadata(ws.root / METADATA_FILE)
    return next(((r.get("lesion_id") or "").strip() or None for r in rows if r.get("image_id") == image_id), None)


def timeline(store: WorkspaceStore, lesion_id: str | None = None, image_id: str | None = None) -> dict[str, Any]:
    """A lesion's visits in date order, each compared with the previous one
    (:func:`dermaseg.compare.timeline.lesion_timeline`), by ``lesion_id`` or by one of its images
    (``image_id``: an image without a lesion_id has an empty timeline, ``lesion_id`` None). Each visit's
    automatic mask is computed first where missing (by this server's model, under its lock)."""
    if image_id is not None:
        if not store.ws.has(image_id):
            raise NotFound(f"image {image_id}: not in the workspace")
        lesion_id = _lesion_of(store.ws, image_id)
        if lesion_id is None:
            return {"lesion_id": None, "date_column": None, "visits": [], "comparisons": []}
    known = {x["lesion_id"] for x in lesions(store.ws)}
    if lesion_id not in known:
        raise NotFound(f"lesion {lesion_id}: no image of the workspace has this lesion_id")
    for vid in (r["image_id"] for r in _visit_rows(store.ws, lesion_id)):
        if store.ws.current_mask(vid) is None:
            entry = store.get(vid)
            with entry.lock:
                entry.load()  # computes (and saves) the automatic mask
    return lesion_timeline(store.ws, lesion_id)


def _visit_rows(ws: Workspace, lesion_id: str) -> list[dict[str, str]]:
    _, rows = read_workspace_metadata(ws.root / METADATA_FILE)
    return [r for r in rows if (r.get("lesion_id") or "").strip() == lesion_id and ws.has(r.get("image_id", ""))]
