"""The REST API under ``/api`` (JSON; OpenAPI at ``/docs``). Each route translates HTTP to one call of
:mod:`dermaseg.serve.service`; errors are turned into 4xx JSON ``{"detail": message}`` by the handlers
installed in :func:`dermaseg.serve.app.create_app`.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from dermaseg import __version__
from dermaseg.data.prompts import MAX_POINTS
from dermaseg.errors import DermasegError
from dermaseg.serve import service
from dermaseg.serve.security import TooLarge, check_upload_size
from dermaseg.serve.wsservice import parse_if_match

__all__ = ["router", "PromptIn", "parse_numbers", "who", "IfMatch"]

router = APIRouter(prefix="/api")

PixelSize = Annotated[float | None, Query(gt=0, allow_inf_nan=False,
                                          description="millimetres per pixel; mm values are null without it")]
PNG = {"content": {"image/png": {}}, "description": "a PNG image"}


class PromptIn(BaseModel):
    """A prompt in input-pixel coordinates (x right, y down)."""

    box: list[float] | None = Field(None, min_length=4, max_length=4, description="[x0, y0, x1, y1]")
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]] = Field(
        default_factory=list, max_length=MAX_POINTS, description=f"[[x, y], ...], at most {MAX_POINTS}")
    labels: list[Literal[0, 1]] | None = Field(None, description="1 lesion, 0 background; all 1 when omitted")
    pixel_size: float | None = Field(None, gt=0, allow_inf_nan=False, description="mm per pixel")
    measure: bool = Field(True, description="false: measurements null (fetch them separately, e.g. after "
                                            "drawing the mask)")


IfMatch = Annotated[str | None, Header(alias="If-Match", description="the image's version this change is "
                                       "based on (workspace images): 409 when it is no longer current")]


def who(request: Request) -> tuple[str, str | None]:
    """(user, remote address) of a request, for the review log: ``request.state.user`` when an
    authentication layer set it, else ``local``."""
    user = getattr(request.state, "user", None)  # a dermaseg.serve.auth.User under --auth
    name = getattr(user, "name", None) or (user if isinstance(user, str) and user else "local")
    return str(name), (request.client.host if request.client else None)


def _store(request: Request):
    return request.app.state.store


def _engine(request: Request):
    return request.app.state.engine


def parse_numbers(text: str | None, field: str, group: int | None = None) -> list | None:
    """A form field as JSON (``[1, 2]``, ``[[1, 2], [3, 4]]``) or plain text (``1,2`` / ``1,2;3,4``) ->
    a list of numbers, or of ``group``-long lists; empty -> None."""
    if text is None or not str(text).strip():
        return None
    s = str(text).strip()
    try:
        val = json.loads(s)
    except ValueError:
        rows = [r for r in s.split(";") if r.strip()] if group else [s]
        try:
            val = [[float(v) for v in r.replace(" ", ",").split(",") if v] for r in rows]
        except ValueError:
            raise DermasegError(f"{field}: cannot read numbers from '{s}'") from None
        val = val if group else val[0]
    if isinstance(val, int | float):  # "0": one label
        val = [val]
    if not isinstance(val, list):
        raise DermasegError(f"{field}: expected a list of numbers, got '{s}'")
    if group and val and not isinstance(val[0], list):
        val = [val[i:i + group] for i in range(0, len(val), group)]
    flat = [v for row in val for v in (row if isinstance(row, list) else [row])] if group else val
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and _finite(v) for v in flat):
        raise DermasegError(f"{field}: expected finite numbers, got '{s}'")
    if group and any(len(r) != group for r in val):
        raise DermasegError(f"{field}: expected pairs x,y, got '{s}'")
    return val


def _finite(v: int | float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an int too large for a float
        return False


@router.get("/health", summary="Liveness and version")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/stats", summary="Open images and the memory they hold against the cache cap")
def stats(request: Request) -> dict[str, Any]:
    return _store(request).stats()


@router.get("/models", summary="The automatic and the prompted model this server runs, and its limits")
def models(request: Request) -> dict[str, Any]:
    return {**_engine(request).describe(), "limits": getattr(request.app.state, "limits", {})}


def _checked_upload(request: Request, file: UploadFile):
    """The uploaded file, refused (413) when over ``--max-upload-mb``: exactly, the file's own bytes."""
    check_upload_size(file.file, request.app.state.max_upload_bytes, request.app.state.upload_label)
    return file.file


def _owner(request: Request) -> str | None:
    user = getattr(request.state, "user", None)
    return user.name if user is not None else None


@router.post("/images", status_code=201, summary="Upload an image: automatic mask, SAM embedding queued")
def upload(request: Request, file: Annotated[UploadFile, File(description="JPEG, PNG, BMP, TIFF or DICOM")],
           pixel_size: Annotated[float | None, Form(gt=0, allow_inf_nan=False)] = None) -> dict[str, Any]:
    user, remote = who(request)
    return service.add_image(_store(request), _engine(request), _checked_upload(request, file), file.filename,
                             pixel_size, user=user, remote=remote, owner=_owner(request))


@router.get("/images/{image_id}", summary="Size, SAM embedding state and current mask kind")
def info(request: Request, image_id: str) -> dict[str, Any]:
    return service.open_image(_store(request), _engine(request), image_id)


@router.post("/images/{image_id}/predict", summary="Segment from a box and/or points (cached embedding)")
def predict(request: Request, image_id: str, prompt: PromptIn, if_match: IfMatch = None) -> dict[str, Any]:
    user, remote = who(request)
    return service.predict(_store(request), _engine(request), image_id, box=prompt.box, points=prompt.points,
                           labels=prompt.labels, pixel_size=prompt.pixel_size, with_measurements=prompt.measure,
                           if_version=parse_if_match(if_match), user=user, remote=remote)


@router.put("/images/{image_id}/mask", summary="Store an edited mask (PNG body, the image's size)",
            openapi_extra={"requestBody": {"required": True, **PNG}})
async def put_mask(request: Request, image_id: str, pixel_size: PixelSize = None,
                   if_match: IfMatch = None) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    data = await request.body()
    if len(data) > request.app.state.max_upload_bytes:
        raise TooLarge(f"mask too large: {len(data)} bytes, the limit is {request.app.state.upload_label}")
    user, remote = who(request)
    return await run_in_threadpool(service.put_mask, _store(request), image_id, data, pixel_size,
                                   parse_if_match(if_match), user, remote)


@router.get("/images/{image_id}/mask.png", response_class=Response, responses={200: PNG},
            summary="The current mask (0/255)")
def get_mask(request: Request, image_id: str) -> Response:
    return Response(service.mask_png(_store(request), image_id), media_type="image/png",
                    headers={"Cache-Control": "no-store"})


@router.get("/images/{image_id}/mask.dcm", response_class=Response,
            responses={200: {"content": {"application/dicom": {}}, "description": "a DICOM Segmentation"}},
            summary="The current mask as a DICOM SEG (DICOM uploads only)")
def get_mask_dcm(request: Request, image_id: str) -> Response:
    data = service.mask_dcm(_store(request), _engine(request), image_id)
    return Response(data, media_type="application/dicom", headers={
        "Cache-Control": "no-store", "Content-Disposition": f'attachment; filename="{image_id}_seg.dcm"'})


@router.get("/images/{image_id}/image.png", response_class=Response, responses={200: PNG},
            summary="The image as decoded by the server (EXIF orientation applied)")
def get_image(request: Request, image_id: str) -> Response:
    return Response(service.image_png(_store(request), image_id), media_type="image/png")


@router.get("/images/{image_id}/measurements", summary="Measurements of the current mask")
def get_measurements(request: Request, image_id: str, pixel_size: PixelSize = None) -> dict[str, Any]:
    return service.measurements(_store(request), image_id, pixel_size)


@router.delete("/images/{image_id}", summary="Forget an image and remove its files")
def delete(request: Request, image_id: str) -> dict[str, Any]:
    return service.delete_image(_store(request), image_id)


@router.post("/segment", summary="One shot: upload, segment (automatic or prompted), measure; nothing kept")
def segment(request: Request, file: Annotated[UploadFile, File(description="JPEG, PNG, BMP, TIFF or DICOM")],
            box: Annotated[str | None, Form(description="x0,y0,x1,y1 or [x0,y0,x1,y1]")] = None,
            points: Annotated[str | None, Form(description="x,y;x,y or [[x,y],...]")] = None,
            labels: Annotated[str | None, Form(description="1,0 or [1,0]")] = None,
            pixel_size: Annotated[float | None, Form(gt=0, allow_inf_nan=False)] = None) -> dict[str, Any]:
    b = parse_numbers(box, "box")
    if b is not None and len(b) != 4:
        raise DermasegError(f"box: expected 4 numbers x0,y0,x1,y1, got '{box}'")
    pts = parse_numbers(points, "points", group=2)
    if pts is not None and len(pts) > MAX_POINTS:
        raise DermasegError(f"{len(pts)} points: at most {MAX_POINTS} points per prompt")
    lab = parse_numbers(labels, "labels")
    if lab is not None and any(v not in (0, 1) for v in lab):
        raise DermasegError(f"labels: each label is 1 (lesion) or 0 (background), got '{labels}'")
    return service.segment_once(_engine(request), _checked_upload(request, file), file.filename, box=b, points=pts,
                                labels=None if lab is None else [int(v) for v in lab], pixel_size=pixel_size)
