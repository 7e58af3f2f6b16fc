"""``create_app``: the FastAPI application behind ``dermaseg serve`` (browser app at ``/``, API at ``/api``).

Tests build it in-process (``fastapi.testclient.TestClient(create_app(...))``); the command line runs it
with uvicorn (:func:`dermaseg.serve.run.serve`). The interactive API documentation at ``/docs`` (Swagger
UI) and ``/redoc`` is served from files shipped by the ``fastapi-offline`` package, so it works without
a network; the schema is at ``/openapi.json``.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg import __version__
from dermaseg.data.prompts import prompt_rules
from dermaseg.errors import DermasegError
from dermaseg.measure import PIXEL_SIZE_RANGE, measure
from dermaseg.serve import wsapi
from dermaseg.serve.api import router
from dermaseg.serve.auth import UserDB
from dermaseg.serve.engine import Engine
from dermaseg.serve.finetune_job import AutoMasks, FinetuneJob, JobRunning
from dermaseg.serve.gate import AuthGate, AuthState, auth_router
from dermaseg.serve.security import (
    DEFAULT_MAX_ACTIVE,
    DEFAULT_MAX_PIXELS,
    DEFAULT_REQUEST_TIMEOUT_S,
    LOOPBACK_HOSTS,
    Busy,
    Guard,
    TooLarge,
    WorkLimit,
)
from dermaseg.serve.store import ImageStore, NotFound
from dermaseg.serve.wsservice import auto_computer, entry_computer
from dermaseg.serve.wsstore import WorkspaceStore
from dermaseg.workspace.store import StaleVersion, UnknownImage, Workspace
from dermaseg.workspace.versions import current_model_path, current_version

__all__ = ["create_app", "BodyLimit", "STATIC_DIR"]

log = logging.getLogger("dermaseg.serve")
STATIC_DIR = Path(__file__).parent / "static"
#: room for the multipart envelope and small form fields on top of the file itself
ENVELOPE_BYTES = 64 * 1024


class BodyLimit:
    """ASGI middleware: refuse a request body over ``max_bytes`` with 413, from its Content-Length
    header when it has one, else while it streams in (the body is never read whole first)."""

    def __init__(self, app, max_bytes: int, label: str) -> None:
        self.app, self.max_bytes, self.label = app, int(max_bytes), label

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        seen = 0
        too_big = False

        async def limited():
            nonlocal seen, too_big
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    from fastapi import HTTPException

                    raise HTTPException(413, self._message())
            return msg

        try:
            await self.app(scope, limited, send)
        except Exception:
            if too_big:  # raised where the app could not turn it into a response
                return await self._refuse(send)
            raise

    def _message(self) -> str:
        return f"upload too large: the limit is {self.label} (dermaseg serve --max-upload-mb)"

    async def _refuse(self, send) -> None:
        import json

        body = json.dumps({"detail": self._message()}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _validation_message(errors: list[dict[str, Any]]) -> tuple[int, str]:
    """FastAPI's validation errors -> (status, one line). Unreadable JSON is a 400."""
    for e in errors:
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error", "")
            return 400, f"invalid JSON body{': ' + str(why) if why else ''}"
    parts = []
    for e in errors:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path", "form"))
        parts.append(f"{loc or 'request'}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts)


def workspace_model(root: Path) -> tuple[str, str]:
    """(the model a workspace server loads, its version label): the workspace's current version."""
    return str(current_model_path(root / "models")), current_version(root / "models")


def create_app(model: Any = "default", sam: Any = "litemedsam-derm", *, max_upload_mb: float = 50,
               cache_mb: float = 2048, max_images: int = 1000, ttl_s: float = 4 * 3600.0,
               device: str | None = None, threads: int | None = None, prefetch_sam: bool = True,
               backend: str = "torch", workspace: str | Path | None = None, auto_background: bool = True,
               allowed_hosts=LOOPBACK_HOSTS, max_pixels: int = DEFAULT_MAX_PIXELS,
               request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S, max_active: int = DEFAULT_MAX_ACTIVE,
               users: str | Path | None = None):
    """The FastAPI app.

    Args:
        model: the automatic model: a registry name or model file (see ``dermaseg models``) or a ready
            :class:`~dermaseg.inference.predictor.Predictor`. With a workspace, ``"default"`` is the
            workspace's current model version (``models/current.json``); a fine-tune or a rollback
            switches it (:mod:`dermaseg.serve.finetune_job`).
        sam: the prompted SAM-family model, likewise, or None for none (prompts are then refused).
        max_upload_mb: largest request body accepted (413 above it, checked while it streams in).
        cache_mb: memory for decoded images, masks and SAM embeddings; least recently used images are
            evicted beyond it and recomputed when used again.
        max_images, ttl_s: at most this many open images; an image idle this long is deleted.
        device, threads, backend: passed to :func:`~dermaseg.inference.predictor.load_predictor` (backend:
            torch, onnx or onnx-int8).
        prefetch_sam: compute each upload's SAM embedding in the background (else on its first prompt).
        workspace: a workspace folder (made when missing): its images are served under their ids, every
            mask, status and note is kept in it, and uploads are added to it. None: nothing is kept.
        auto_background: with a workspace, compute the automatic mask of every image in a background
            thread (else each on its first open).
        allowed_hosts: Host names the server answers to (loopback names by default; "*": any).
        max_pixels: largest image decoded (width × height), refused from its header beyond.
        request_timeout_s: longest a request waits for a model (503 + Retry-After beyond).
        max_active: model/decoding requests worked on at once (429 + Retry-After beyond).
        users: an accounts file (:mod:`dermaseg.serve.auth`): accounts required (``--auth``); None: the
            local mode, no accounts.
    """
    from fastapi import HTTPException
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse
    from fastapi.staticfiles import StaticFiles
    from fastapi_offline import FastAPIOffline

    if users is not None:
        users = UserDB(users)  # checked before the models load
    auto_version = None
    if workspace is not None:  # "default": the workspace's current version (models/current.json)
        if isinstance(model, str) and model == "default":
            model, auto_version = workspace_model(Path(workspace))
        else:  # a named model labels its masks with its name; a ready Predictor is taken as the current one
            auto_version = model if isinstance(model, str) else workspace_model(Path(workspace))[1]
    engine = Engine(model, sam, device=device, threads=threads, prefetch=prefetch_sam, backend=backend,
                    wait_s=request_timeout_s, auto_version=auto_version)
    engine.max_pixels = int(max_pixels)
    measure(np.ones((4, 4), bool), image=np.zeros((4, 4, 3), np.uint8))  # imports scikit-image etc. now
    auto_masks: AutoMasks | None = None
    if workspace is None:
        store = ImageStore(int(float(cache_mb) * 2**20), max_images=max_images, ttl_s=ttl_s)
    else:
        ws = Workspace.open(workspace, create=True)
        compute = auto_computer(engine, ws)
        store = WorkspaceStore(ws, int(float(cache_mb) * 2**20), compute_auto=entry_computer(compute),
                               max_images=max_images, ttl_s=ttl_s)
        auto_masks = AutoMasks(engine, store, compute)

    @asynccontextmanager
    async def lifespan(app):
        if auto_masks is not None and auto_background:
            auto_masks.start()
        yield
        if app.state.finetune is not None:
            app.state.finetune.join(timeout=5)
        if auto_masks is not None:
            auto_masks.close()
        engine.close()
        store.close()

    app = FastAPIOffline(title="dermaseg", version=__version__, lifespan=lifespan,
                         description="Segment, correct and measure skin lesions. Masks are base64 PNG, "
                                     "0/255, at the image's own size; coordinates are input pixels.")
    app.state.store, app.state.engine = store, engine
    app.state.finetune = None if auto_masks is None else FinetuneJob(store.ws, auto_masks.switch, device=device)
    app.state.max_upload_bytes = int(float(max_upload_mb) * 2**20)
    app.state.upload_label = f"{max_upload_mb:g} MB"
    app.include_router(router)
    app.include_router(wsapi.router)
    # hardening and accounts (security.py, gate.py); the last added runs first
    app.include_router(auth_router)
    app.state.limits = {"max_upload_bytes": app.state.max_upload_bytes, "max_pixels": int(max_pixels),
                        "request_timeout_s": float(request_timeout_s), "max_active": int(max_active),
                        "pixel_size": list(PIXEL_SIZE_RANGE), **prompt_rules()}
    app.add_middleware(WorkLimit, max_active=max_active)
    app.state.auth = None
    if users is not None:
        app.state.auth = AuthState(users, workspace=workspace is not None)
        app.add_middleware(AuthGate, auth=app.state.auth, store=store)
    app.add_middleware(BodyLimit, max_bytes=app.state.max_upload_bytes + ENVELOPE_BYTES,
                       label=f"{max_upload_mb:g} MB")
    app.add_middleware(Guard, allowed_hosts=allowed_hosts)

    @app.exception_handler(Busy)
    async def busy_error(request, exc: Busy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(TooLarge)
    async def too_large(request, exc: TooLarge):
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(DermasegError)
    async def dermaseg_error(request, exc: DermasegError):
        if isinstance(exc, StaleVersion):  # the page shows the newer mask instead of overwriting it
            return JSONResponse({"detail": str(exc), "current_version": exc.current, "image_id": exc.image_id},
                                status_code=409, headers={"ETag": f'"{exc.current}"'})
        if isinstance(exc, JobRunning):
            return JSONResponse({"detail": str(exc)}, status_code=409)
        return JSONResponse({"detail": str(exc)},
                            status_code=404 if isinstance(exc, NotFound | UnknownImage) else 400)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc: RequestValidationError):
        status, msg = _validation_message(list(exc.errors()))
        return JSONResponse({"detail": msg}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "login.html", headers={"Cache-Control": "no-cache"})

    return app
