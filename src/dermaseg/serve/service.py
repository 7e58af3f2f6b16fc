"""What the API does, without HTTP: upload, prompt, edit, measure, one-shot segmentation.

Each function takes the :class:`~dermaseg.serve.store.ImageStore` and the
:class:`~dermaseg.serve.engine.Engine` and returns plain dicts (JSON-able) or bytes; the routes in
:mod:`dermaseg.serve.api` only translate HTTP to these calls. Masks are encoded as base64 PNG, 0/255,
one channel, at the image's own width × height.
"""

from __future__ import annotations

import base64
import shutil
from typing import Any, BinaryIO

import numpy as np

from dermaseg.dicom.read import is_dicom, read_dataset
from dermaseg.dicom.seg import seg_bytes
from dermaseg.errors import DermasegError
from dermaseg.inference.flags import review_flags
from dermaseg.inference.predictor import model_version
from dermaseg.io import image_pixel_size, read_image
from dermaseg.measure import check_pixel_size, measure
from dermaseg.serve import wsservice
from dermaseg.serve.engine import Engine, check_points
from dermaseg.serve.store import Entry, ImageStore, decode_mask_png, encode_png
from dermaseg.serve.wsstore import WorkspaceEntry, WorkspaceStore

__all__ = ["add_image", "image_info", "open_image", "predict", "put_mask", "mask_png", "mask_dcm", "image_png",
           "measurements",
           "delete_image", "segment_once", "display_name", "mask_b64"]


def display_name(filename: str | None) -> str:
    """A client's file name, for messages and display only: last path component, printable, ≤ 120 chars."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip() or "upload"
    return name[:120]


def mask_b64(mask: np.ndarray) -> str:
    """bool H×W -> base64 PNG (0/255, one channel)."""
    return base64.b64encode(encode_png(mask)).decode("ascii")


def _pixel_size(pixel_size: float | None, own: float | None = None) -> float | None:
    """The request's pixel size, else the one the image states (a DICOM's pixel spacing), else None."""
    ps = check_pixel_size(pixel_size, "pixel_size")
    return ps if ps is not None else own


def _measure(mask: np.ndarray, rgb: np.ndarray | None, pixel_size: float | None) -> dict[str, Any]:
    """:func:`dermaseg.measure.measure` of a mask with its image (colour and border features included)."""
    return measure(mask, image=rgb, pixel_size=check_pixel_size(pixel_size, "pixel_size"))


def _finish(store: ImageStore, entry: Entry) -> None:
    store.settle(keep=entry)


def _pixel_size_of(store: ImageStore, entry: Entry, pixel_size: float | None) -> float | None:
    """The pixel size asked for, else a workspace image's own (its override or the workspace default)."""
    if pixel_size is None and isinstance(entry, WorkspaceEntry) and isinstance(store, WorkspaceStore):
        return store.ws.effective_pixel_size(store.ws.image(entry.id))
    return pixel_size if pixel_size is not None else getattr(entry, "pixel_size", None)  # a DICOM's own


# ------------------------------------------------------------------ open images
def add_image(store: ImageStore, engine: Engine, fileobj: BinaryIO, filename: str | None,
              pixel_size: float | None = None, user: str = "local", remote: str | None = None,
              owner: str | None = None) -> dict[str, Any]:
    """Keep an upload in the store (with a workspace: as a new workspace image), segment it automatically,
    queue its SAM embedding (HTTP 201 body). ``owner``: the account it belongs to (``--auth``, ephemeral
    mode: only that account sees it). A failed upload leaves no file."""
    ps = _pixel_size(pixel_size)
    if isinstance(store, WorkspaceStore):
        image_id = wsservice.add_upload(store, fileobj, display_name(filename), user, remote,
                                        max_pixels=getattr(engine, "max_pixels", None))
        entry = store.get(image_id)
        with entry.lock:
            entry.load()
            mask = entry.auto_mask
            body = {**open_image(store, engine, image_id, schedule=False),
                    "auto": {"mask": mask_b64(mask), "predicted_quality": entry.quality, "flags": list(entry.flags),
                             "area_px": int(mask.sum()), "source": engine.auto.name,
                             "measurements": _measure(mask, entry.rgb, _pixel_size_of(store, entry, ps))}}
        engine.schedule_embedding(store, image_id)
        _finish(store, entry)
        return body
    entry = store.new_entry(display_name(filename))
    entry.owner = owner
    try:
        with open(entry.upload, "wb") as f:
            shutil.copyfileobj(fileobj, f, 1 << 20)
        rgb = read_image(entry.upload, name=entry.name, max_pixels=getattr(engine, "max_pixels", None))
        entry.dicom = is_dicom(entry.upload)
        entry.pixel_size = image_pixel_size(entry.upload)
        ps = ps if ps is not None else entry.pixel_size
        pred = engine.automatic(rgb)
        entry.auto_file.write_bytes(encode_png(pred.mask))
        pred.flags = review_flags(pred.flags, pred.quality)
        entry.height, entry.width = rgb.shape[:2]
        entry.rgb, entry.auto_mask = rgb, pred.mask
        entry.set_mask(pred.mask, "auto")
        entry.quality, entry.flags, entry.source = pred.quality, tuple(pred.flags), pred.source
        entry.sam = "pending" if engine.sam is not None else "unavailable"
        body = {**image_info(entry),
                "auto": {"mask": mask_b64(pred.mask), "predicted_quality": pred.quality,
                         "flags": list(pred.flags), "area_px": int(pred.mask.sum()), "source": pred.source,
                         "measurements": _measure(pred.mask, rgb, ps)}}
    except BaseException:
        entry.remove_files()
        raise
    with entry.lock:
        store.add(entry)
    engine.schedule_embedding(store, entry.id)
    return body


def image_info(entry: Entry) -> dict[str, Any]:
    """id, size, name, SAM state ("pending", "ready", "evicted": recomputed on the next prompt,
    "unavailable": no prompted model) and which mask is current."""
    return {"id": entry.id, "width": entry.width, "height": entry.height, "name": entry.name,
            "sam": entry.sam, "mask_kind": entry.mask_kind, "predicted_quality": entry.quality,
            "flags": list(entry.flags), "dicom": entry.dicom, "pixel_size": entry.pixel_size}


def open_image(store: ImageStore, engine: Engine, image_id: str, schedule: bool = True) -> dict[str, Any]:
    """``GET /api/images/{id}``: :func:`image_info`, with the review state of a workspace image (whose
    SAM embedding is then queued, so that its first prompt is quick)."""
    entry = store.get(image_id)
    body = wsservice.describe(store, entry, image_info(entry))
    if schedule and isinstance(entry, WorkspaceEntry) and entry.sam == "pending":
        engine.schedule_embedding(store, image_id)
    return body


def predict(store: ImageStore, engine: Engine, image_id: str, box=None, points=None, labels=None,
            pixel_size: float | None = None, with_measurements: bool = True, if_version: int | None = None,
            user: str = "local", remote: str | None = None) -> dict[str, Any]:
    """Segment an open image from a prompt (input pixels); the result becomes its current mask (of a
    workspace image: saved as its edited mask, ``if_version`` checked, and ``version`` returned).
    ``with_measurements=False`` leaves ``measurements`` None (the page draws the mask first, then asks
    for them: on a large image they cost more than the prompt)."""
    entry = store.get(image_id)
    if box is None and not points:
        raise DermasegError("give a box and/or points (for the automatic mask, PUT it back or re-upload)")
    check_points(points, entry.width, entry.height, box=box, labels=labels)
    _pixel_size(pixel_size)
    with entry.lock:
        # after a PUT mask (brush/eraser), the prompt refines the edited mask and keeps the strokes it does
        # not change (dermaseg.inference.edits); the Predictor's session carries them to later prompts
        entry.load()
        edited = entry.mask if entry.mask_kind == "edit" else None
        if edited is not None and entry.auto_mask is not None and np.array_equal(edited, entry.auto_mask):
            edited = None  # the page's "reset to the automatic mask" (PUT of it): nothing to keep
        pred = engine.prompt(entry, box=box, points=points or None, labels=labels, edited=edited,
                             before=entry.auto_mask if edited is not None else None)
        saved = {}
        if isinstance(entry, WorkspaceEntry):
            saved = wsservice.save_mask(store, entry, pred.mask, user, remote, if_version, "prompt")
        else:
            entry.set_mask(pred.mask, "prompt")
        ps = _pixel_size_of(store, entry, pixel_size)
        body = {"mask": mask_b64(pred.mask), "score": pred.score, "area_px": int(pred.mask.sum()),
                "predicted_quality": pred.quality, "flags": list(pred.flags),
                "measurements": _measure(pred.mask, entry.rgb, ps) if with_measurements else None}
        if saved:
            body.update(version=saved["version"], status=saved["status"], reviewer=saved["reviewer"])
    _finish(store, entry)
    return body


def put_mask(store: ImageStore, image_id: str, data: bytes, pixel_size: float | None = None,
             if_version: int | None = None, user: str = "local", remote: str | None = None) -> dict[str, Any]:
    """Store an edited mask (PNG bytes at the image's size, read by dermaseg's mask rule); of a workspace
    image it is saved durably (``if_version`` checked: a stale one raises, nothing is written)."""
    entry = store.get(image_id)
    _pixel_size(pixel_size)  # refused before the mask changes
    if not data:
        raise DermasegError("mask: empty body (send the mask as a PNG)")
    mask = decode_mask_png(data, name="mask", max_pixels=max(4, entry.width * entry.height))
    if mask.shape != (entry.height, entry.width):
        raise DermasegError(f"mask: {mask.shape[1]}x{mask.shape[0]} pixels, but the image is "
                            f"{entry.width}x{entry.height}")
    with entry.lock:
        entry.load()
        saved = {}
        if isinstance(entry, WorkspaceEntry):
            saved = wsservice.save_mask(store, entry, mask, user, remote, if_version, "edit")
        else:
            entry.set_mask(mask, "edit")
        body = {"area_px": int(mask.sum()),
                "measurements": _measure(mask, entry.rgb, _pixel_size_of(store, entry, pixel_size))}
        if saved:
            body.update(version=saved["version"], status=saved["status"], reviewer=saved["reviewer"])
    _finish(store, entry)
    return body


def _entry_png(store: ImageStore, image_id: str, field: str) -> bytes:
    entry = store.get(image_id)
    with entry.lock:
        entry.load()
        data = encode_png(getattr(entry, field))
    _finish(store, entry)
    return data


def mask_png(store: ImageStore, image_id: str) -> bytes:
    """The current mask as PNG (0/255, one channel, the image's size)."""
    return _entry_png(store, image_id, "mask")


def mask_dcm(store: ImageStore, engine: Engine, image_id: str) -> bytes:
    """The current mask as a DICOM Segmentation over the uploaded DICOM image (:mod:`dermaseg.dicom.seg`):
    an edited mask is ``MANUAL``, a model's ``AUTOMATIC`` naming that model. A non-DICOM upload raises."""

    entry = store.get(image_id)
    if not entry.dicom:
        raise DermasegError(f"image {image_id}: {entry.name} is not a DICOM image; a DICOM SEG needs a DICOM "
                            "source (use mask.png)")
    with entry.lock:
        entry.load()
        mask, kind = entry.mask, entry.mask_kind
        source = read_dataset(entry.upload, name=entry.name)
    _finish(store, entry)
    model = engine.sam if kind == "prompt" and engine.sam is not None else engine.auto
    return seg_bytes(source, mask, model.name, model_version(model), manual=kind == "edit")


def image_png(store: ImageStore, image_id: str) -> bytes:
    """The image as the server decoded it (EXIF orientation applied), as PNG."""
    return _entry_png(store, image_id, "rgb")


def measurements(store: ImageStore, image_id: str, pixel_size: float | None = None) -> dict[str, Any]:
    """Measurements of the current mask (mm values when ``pixel_size`` is given)."""
    entry = store.get(image_id)
    with entry.lock:
        entry.load()
        body = _measure(entry.mask, entry.rgb, _pixel_size_of(store, entry, pixel_size))
    _finish(store, entry)
    return body


def delete_image(store: ImageStore, image_id: str) -> dict[str, Any]:
    if isinstance(store.get(image_id), WorkspaceEntry):
        raise DermasegError(f"image {image_id}: workspace images are kept (mark it skipped instead)")
    store.delete(image_id)
    return {"id": image_id, "deleted": True}


# ------------------------------------------------------------------ one shot
def segment_once(engine: Engine, fileobj: BinaryIO, filename: str | None, box=None, points=None,
                 labels=None, pixel_size: float | None = None) -> dict[str, Any]:
    """Segment one upload without keeping it: automatic without a prompt, else the prompted model."""
    ps = _pixel_size(pixel_size, image_pixel_size(fileobj))
    rgb = read_image(fileobj, name=display_name(filename), max_pixels=getattr(engine, "max_pixels", None))
    h, w = rgb.shape[:2]
    if box is None and not points:
        pred = engine.automatic(rgb)
        pred.flags = review_flags(pred.flags, pred.quality)
    else:
        check_points(points, w, h, box=box, labels=labels)
        pred = engine.prompt(None, box=box, points=points or None, labels=labels, rgb=rgb)
    return {"width": w, "height": h, "mask": mask_b64(pred.mask), "predicted_quality": pred.quality,
            "flags": list(pred.flags), "score": pred.score, "area_px": int(pred.mask.sum()),
            "source": pred.source, "measurements": _measure(pred.mask, rgb, ps)}
