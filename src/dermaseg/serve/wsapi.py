"""The workspace routes under ``/api`` (``serve --workspace DIR``); each translates HTTP to one call of
:mod:`dermaseg.serve.wsservice`. Without a workspace, ``GET /api/workspace`` answers
``{"workspace": false}`` (the page then says that nothing is kept) and the other routes 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from dermaseg.compare.timeline import lesions as lesion_list
from dermaseg.serve import wsservice
from dermaseg.serve.api import IfMatch, who
from dermaseg.serve.auth import allowed
from dermaseg.serve.store import NotFound, encode_png
from dermaseg.serve.wsservice import parse_if_match
from dermaseg.serve.wsstore import WorkspaceStore
from dermaseg.workspace.current import list_models

__all__ = ["router", "StatusIn", "WorkspaceIn", "FinetuneIn"]

router = APIRouter(prefix="/api")


class StatusIn(BaseModel):
    """A review decision on a workspace image."""

    status: Literal["approved", "skipped", "edited"] = Field(description="approved, skipped, or edited "
                                                                         "(back under review)")
    note: str | None = Field(None, max_length=10_000, description="free text; omitted: unchanged")


class WorkspaceIn(BaseModel):
    """Workspace settings a client may change."""

    pixel_size: float | None = Field(None, gt=0, allow_inf_nan=False, description="default mm per pixel")


class FinetuneIn(BaseModel):
    """Options of a fine-tune on the approved masks (all optional)."""

    recipe: Literal["finetune"] = Field("finetune", description="the training recipe")
    epochs: int | None = Field(None, ge=1, le=500, description="epochs (default: the recipe's)")
    freeze: Literal["encoder"] | None = Field(None, description="encoder: train the decoder only")
    seed: int = Field(0, ge=0, description="seed of the held-out split and of training")


def _ws_store(request: Request) -> WorkspaceStore:
    store = request.app.state.store
    if not isinstance(store, WorkspaceStore):
        raise NotFound("this server runs without a workspace (start it with dermaseg serve --workspace DIR)")
    return store


@router.get("/workspace", summary="The workspace: name, counts by status, pixel size ({workspace: false} "
                                  "when none: nothing is kept)")
def workspace(request: Request) -> dict[str, Any]:
    store = request.app.state.store
    if not isinstance(store, WorkspaceStore):
        return {"workspace": False}
    return wsservice.workspace_info(store.ws)


@router.patch("/workspace", summary="Set the workspace's default pixel size")
def set_workspace(request: Request, body: WorkspaceIn) -> dict[str, Any]:
    store = _ws_store(request)
    user, remote = who(request)
    store.ws.set_pixel_size(body.pixel_size, user=user, remote=remote)
    return wsservice.workspace_info(store.ws)


@router.get("/workspace/images", summary="The workspace's images: [{id, name, status, predicted_quality, "
                                         "flags, reviewer, version}]")
def images(request: Request,
           status: Annotated[str | None, Query(description="a status or several, comma-separated: auto, "
                                                           "edited, approved, skipped")] = None,
           order: Annotated[Literal["quality", "name"] | None, Query(description="quality: lowest first")] = None,
           flagged: Annotated[bool, Query(description="only images with flags")] = False,
           limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
           offset: Annotated[int, Query(ge=0)] = 0) -> list[dict[str, Any]]:
    return wsservice.list_images(_ws_store(request).ws, status=status, order=order, flagged=flagged, limit=limit,
                                 offset=offset)


@router.get("/workspace/log", summary="The review log (oldest first)")
def review_log(request: Request, image: str | None = None,
               limit: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> list[dict[str, Any]]:
    return _ws_store(request).ws.log(image, limit=limit)


@router.post("/images/{image_id}/status", summary="Approve, skip or reopen a workspace image; set its note")
def set_status(request: Request, image_id: str, body: StatusIn, if_match: IfMatch = None) -> dict[str, Any]:
    account = getattr(request.state, "user", None)  # set by the accounts gate (serve --auth); None: local
    if body.status == "approved" and account is not None and not allowed(account.role, "approve"):
        raise HTTPException(403, f"{account.name} ({account.role}) may not approve; skip or edit is allowed")
    user, remote = who(request)
    return wsservice.set_status(_ws_store(request), image_id, body.status, body.note, user, remote,
                                parse_if_match(if_match))


@router.get("/images/{image_id}/thumb.jpg", response_class=Response, summary="A small JPEG of the image")
def thumb(request: Request, image_id: str) -> Response:
    store = _ws_store(request)
    if not store.ws.has(image_id):
        raise NotFound(f"image {image_id}: not in the workspace")
    return Response(wsservice.thumbnail(store, image_id), media_type="image/jpeg",
                    headers={"Cache-Control": "max-age=3600"})


@router.get("/images/{image_id}/auto.png", response_class=Response, summary="The automatic mask (0/255)")
def auto_png(request: Request, image_id: str) -> Response:
    store = _ws_store(request)
    entry = store.get(image_id)
    with entry.lock:
        entry.load()
        data = encode_png(entry.auto_mask)
    return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})


def _job(request: Request):
    _ws_store(request)
    return request.app.state.finetune


@router.post("/workspace/finetune", status_code=202,
             summary="Start fine-tuning the current model on the approved masks (a background job; 409 while "
                     "one runs, 400 with too few approved images)")
def start_finetune(request: Request, body: FinetuneIn | None = None) -> dict[str, Any]:
    job = _job(request)
    body = body or FinetuneIn()
    user, remote = who(request)
    return job.start(user, remote, recipe=body.recipe, epochs=body.epochs, freeze=body.freeze, seed=body.seed)


@router.get("/workspace/finetune", summary="The fine-tune job: state (idle, running, done, failed), stage, "
                                           "fraction, and when finished the gate's result or the error")
def finetune_status(request: Request) -> dict[str, Any]:
    return _job(request).status()


@router.get("/workspace/models", summary="The model versions (the bundled one first) and which is current")
def models(request: Request) -> list[dict[str, Any]]:
    return list_models(_ws_store(request).ws)


@router.post("/workspace/models/{version}/current", summary="Make a model version current (rollback): the "
                                                            "automatic model switches to it")
def use_model(request: Request, version: str) -> dict[str, Any]:
    job = _job(request)
    user, remote = who(request)
    return job.use(version, user, remote)


@router.get("/lesions", summary="The workspace's lesions (metadata.csv lesion_id) with their number of visits")
def lesions(request: Request) -> list[dict[str, Any]]:
    return lesion_list(_ws_store(request).ws)


@router.get("/lesions/{lesion_id}/timeline",
            summary="A lesion's visits in date order, each compared with the previous one (change, flags)")
def lesion_timeline(request: Request, lesion_id: str) -> dict[str, Any]:
    return wsservice.timeline(_ws_store(request), lesion_id=lesion_id)


@router.get("/images/{image_id}/timeline",
            summary="The timeline of this image's lesion (empty, lesion_id null, when it has no lesion_id)")
def image_timeline(request: Request, image_id: str) -> dict[str, Any]:
    return wsservice.timeline(_ws_store(request), image_id=image_id)
