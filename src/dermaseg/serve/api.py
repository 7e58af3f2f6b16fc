"""The REST API under ``/api`` (JSON; OpenAPI at ``/docs``). Each route translates HTTP to one call of
:mod:`dermaseg.serve.service`; errors are turned into 4xx JSON ``{"detail": message}`` by the handlers
installed in :func:`dermaseg.serve.app.create_app`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from dermaseg import __version__
from dermaseg.data.prompt_input import parse_form_prompt
from dermaseg.data.prompts import MAX_POINTS, prompt_rules
from dermaseg.inference.flags import REVIEW_JACCARD
from dermaseg.inference.postprocess import DEFAULT_THRESHOLD, FAILURE_JACCARD
from dermaseg.overlays import overlay_style
from dermaseg.serve import service
from dermaseg.serve.security import TooLarge, check_upload_size
from dermaseg.serve.wsservice import parse_if_match

__all__ = ["router", "PromptIn", "who", "IfMatch"]

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


@router.get("/health", summary="Liveness and version")
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/stats", summary="Open images and the memory they hold against the cache cap")
def stats(request: Request) -> dict[str, Any]:
    return _store(request).stats()


@router.get("/config", summary="The rules the page shares with the server: overlay style, cuts, prompt bounds")
def config() -> dict[str, Any]:
    """Each value read from its one home: the overlay style (overlays.py), the default probability threshold
    and the failure cut (inference/postprocess.py), the review cut (inference/flags.py) and the prompt rule
    (data/prompts.py). Small and stable: the page reads it once."""
    rules = prompt_rules()
    return {"overlay": overlay_style(), "threshold": DEFAULT_THRESHOLD, "failure_cut": FAILURE_JACCARD,
            "review_cut": REVIEW_JACCARD, "points": rules["point"], "box": rules["box"],
            "max_points": rules["max_points"]}


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
    b, pts, lab = parse_form_prompt(box, points, labels)
    return service.segment_once(_engine(request), _checked_upload(request, file), file.filename, box=b, points=pts,
                                labels=lab, pixel_size=pixel_size)
