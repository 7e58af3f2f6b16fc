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

from dermaseg.errors import DermasegError
from dermaseg.dicom.read import is_dicom
from dermaseg.io import image_pixel_size, read_image
from dermaseg.measure import check_pixel_size, measure
from dermaseg.serve.engine import Engine, check_points
from dermaseg.serve.store import Entry, ImageStore, decode_mask_png, encode_png

__all__ = ["add_image", "image_info", "predict", "put_mask", "mask_png", "mask_dcm", "image_png", "measurements",
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


# ------------------------------------------------------------------ open images
def add_image(store: ImageStore, engine: Engine, fileobj: BinaryIO, filename: str | None,
              pixel_size: float | None = None) -> dict[str, Any]:
    """Keep an upload in the store, segment it automatically, queue its SAM embedding (HTTP 201 body)."""
    ps = _pixel_size(pixel_size)
    entry = store.new_entry(display_name(filename))
    try:
        with open(entry.upload, "wb") as f:
            shutil.copyfileobj(fileobj, f, 1 << 20)
        rgb = read_image(entry.upload, name=entry.name)
        entry.dicom = is_dicom(entry.upload)
        entry.pixel_size = image_pixel_size(entry.upload)
        ps = ps if ps is not None else entry.pixel_size
        pred = engine.automatic(rgb)
        entry.auto_file.write_bytes(encode_png(pred.mask))
    except BaseException:
        entry.remove_files()
        raise
    entry.height, entry.width = rgb.shape[:2]
    entry.rgb, entry.auto_mask = rgb, pred.mask
    entry.set_mask(pred.mask, "auto")
    entry.quality, entry.flags, entry.source = pred.quality, tuple(pred.flags), pred.source
    entry.sam = "pending" if engine.sam is not None else "unavailable"
    body = {**image_info(entry),
            "auto": {"mask": mask_b64(pred.mask), "predicted_quality": pred.quality, "flags": list(pred.flags),
                     "area_px": int(pred.mask.sum()), "source": pred.source,
                     "measurements": _measure(pred.mask, rgb, ps)}}
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


def predict(store: ImageStore, engine: Engine, image_id: str, box=None, points=None, labels=None,
            pixel_size: float | None = None, with_measurements: bool = True) -> dict[str, Any]:
    """Segment an open image from a prompt (input pixels); the result becomes its current mask.
    ``with_measurements=False`` leaves ``measurements`` None (the page draws the mask first, then asks
    for them: on a large image they cost more than the prompt)."""
    entry = store.get(image_id)
    if box is None and not points:
        raise DermasegError("give a box and/or points (for the automatic mask, PUT it back or re-upload)")
    check_points(points, entry.width, entry.height)
    with entry.lock:
        pred = engine.prompt(entry, box=box, points=points or None, labels=labels)
        entry.set_mask(pred.mask, "prompt")
        body = {"mask": mask_b64(pred.mask), "score": pred.score, "area_px": int(pred.mask.sum()),
                "predicted_quality": pred.quality, "flags": list(pred.flags),
                "measurements": _measure(pred.mask, entry.rgb, _pixel_size(pixel_size, entry.pixel_size)) if with_measurements else None}
    _finish(store, entry)
    return body


def put_mask(store: ImageStore, image_id: str, data: bytes, pixel_size: float | None = None) -> dict[str, Any]:
    """Store an edited mask (PNG bytes at the image's size, read by dermaseg's mask rule)."""
    entry = store.get(image_id)
    if not data:
        raise DermasegError("mask: empty body (send the mask as a PNG)")
    mask = decode_mask_png(data, name="mask")
    if mask.shape != (entry.height, entry.width):
        raise DermasegError(f"mask: {mask.shape[1]}x{mask.shape[0]} pixels, but the image is "
                            f"{entry.width}x{entry.height}")
    with entry.lock:
        entry.load()
        entry.set_mask(mask, "edit")
        body = {"area_px": int(mask.sum()),
                "measurements": _measure(mask, entry.rgb, _pixel_size(pixel_size, entry.pixel_size))}
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
    from dermaseg.dicom.read import read_dataset
    from dermaseg.dicom.seg import model_version, seg_bytes

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
        body = _measure(entry.mask, entry.rgb, _pixel_size(pixel_size, entry.pixel_size))
    _finish(store, entry)
    return body


def delete_image(store: ImageStore, image_id: str) -> dict[str, Any]:
    store.delete(image_id)
    return {"id": image_id, "deleted": True}


# ------------------------------------------------------------------ one shot
def segment_once(engine: Engine, fileobj: BinaryIO, filename: str | None, box=None, points=None,
                 labels=None, pixel_size: float | None = None) -> dict[str, Any]:
    """Segment one upload without keeping it: automatic without a prompt, else the prompted model."""
    ps = _pixel_size(pixel_size, image_pixel_size(fileobj))
    rgb = read_image(fileobj, name=display_name(filename))
    h, w = rgb.shape[:2]
    if box is None and not points:
        pred = engine.automatic(rgb)
    else:
        check_points(points, w, h)
        pred = engine.prompt(None, box=box, points=points or None, labels=labels, rgb=rgb)
    return {"width": w, "height": h, "mask": mask_b64(pred.mask), "predicted_quality": pred.quality,
            "flags": list(pred.flags), "score": pred.score, "area_px": int(pred.mask.sum()),
            "source": pred.source, "measurements": _measure(pred.mask, rgb, ps)}
