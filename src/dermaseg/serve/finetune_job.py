"""The server's fine-tune job (``POST /api/workspace/finetune``): one background thread at a time runs
:func:`dermaseg.training.wsloop.finetune_workspace` while the server keeps answering, and
``GET /api/workspace/finetune`` reads its progress.

State (:meth:`FinetuneJob.status`): ``state`` is ``idle`` (never started), ``running``, ``done`` or
``failed``; ``stage`` (start, train, score, done), ``fraction`` (0..1), ``epoch``/``epochs`` while
training, ``version`` (the vN being made), ``started``/``finished`` (UTC), ``user``, and when finished
``gate`` (accepted, difference, se, n, reason), ``current`` (the current version afterwards) or
``error`` (one line; the current model stays). A start while one runs is :class:`JobRunning` (409).

When a version becomes current (a fine-tune the gate accepted, or ``POST
/api/workspace/models/{version}/current``), ``on_current`` switches the server's automatic model to it
and re-computes the automatic masks of images not yet reviewed (the app's
:func:`~dermaseg.serve.app.create_app` passes it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dermaseg.errors import DataError, DermasegError
from dermaseg.models.files import resolve_model_path
from dermaseg.serve.wsstore import AutoWorker
from dermaseg.training.adapt import MIN_PAIRS
from dermaseg.training.wsloop import finetune_workspace
from dermaseg.workspace.current import use_version
from dermaseg.workspace.store import Workspace
from dermaseg.workspace.versions import utc_now

__all__ = ["FinetuneJob", "JobRunning", "AutoMasks", "MIN_APPROVED"]

log = logging.getLogger("dermaseg.serve")

#: fewer approved images cannot fine-tune (the library's own minimum, checked before a thread starts)
MIN_APPROVED = 4


class JobRunning(DermasegError):
    """A fine-tune is already running (HTTP 409)."""


class FinetuneJob:
    """The one fine-tune job of a workspace server (module docstring)."""

    def __init__(self, ws: Workspace, on_current: Callable[[], None], device: str | None = None) -> None:
        self.ws, self.on_current, self.device = ws, on_current, device
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state: dict[str, Any] = {"state": "idle", "fraction": 0.0}

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {**self._state, "current_model": self._current()}

    def _current(self) -> str | None:
        try:
            return self.ws.model_version
        except DermasegError:
            return None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, user: str, remote: str | None, recipe: str = "finetune", epochs: int | None = None,
              freeze: str | None = None, seed: int = 0) -> dict[str, Any]:
        """Start a fine-tune in a thread; returns the state. Too few approved images -> DataError (400),
        a job already running -> :class:`JobRunning` (409)."""
        with self._lock:
            if self.running:
                raise JobRunning(f"a fine-tune is already running (started {self._state.get('started')} by "
                                 f"{self._state.get('user')}); wait for it: GET /api/workspace/finetune")
            n = self.ws.counts()["approved"]
            if n < max(MIN_APPROVED, MIN_PAIRS):
                raise DataError(f"{self.ws.name}: {n} approved image(s); fine-tuning needs at least "
                                f"{max(MIN_APPROVED, MIN_PAIRS)} (approve more images first)")
            self._state = {"state": "running", "stage": "queued", "fraction": 0.0, "started": utc_now(),
                           "user": user, "approved": n, "epochs": epochs, "recipe": recipe}
            opts = {"recipe": recipe, "epochs": epochs, "freeze": freeze, "seed": seed}
            self._thread = threading.Thread(target=self._run, args=(user, remote, opts),
                                            name="dermaseg-finetune", daemon=True)
            self._thread.start()
            return dict(self._state)

    def _progress(self, d: dict[str, Any]) -> None:
        keep = {k: d[k] for k in ("stage", "version", "fraction", "epoch", "epochs", "n_train", "n_heldout")
                if k in d}
        with self._lock:
            self._state.update(keep)

    def _run(self, user: str, remote: str | None, opts: dict[str, Any]) -> None:
        try:
            before = self._current()
            doc = finetune_workspace(self.ws, device=self.device, progress=self._progress, user=user,
                                     remote=remote, **opts)
            if doc["current"] != before:
                self.on_current()
            result = {"state": "done", "stage": "done", "fraction": 1.0, "version": doc["version"],
                      "gate": doc["gate"], "quality": doc.get("quality"), "current": doc["current"],
                      "seconds": doc.get("seconds")}
        except DermasegError as e:
            result = {"state": "failed", "error": str(e)}
        except Exception as e:  # a failure in training must not take the server down; the model stays
            log.exception("fine-tune failed")
            result = {"state": "failed", "error": f"internal error: {type(e).__name__}: {e}"}
        with self._lock:
            self._state.update(result, finished=utc_now())

    def use(self, version: str, user: str, remote: str | None) -> dict[str, Any]:
        """Make ``version`` current (rollback) and switch the server's automatic model to it."""
        before = self._current()
        doc = use_version(self.ws, version, user=user, remote=remote)
        if version != before:
            self.on_current()
        return doc

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running job (tests, shutdown)."""
        t = self._thread
        if t is not None:
            t.join(timeout)


class AutoMasks:
    """The server's automatic masks of a workspace: the background :class:`~dermaseg.serve.wsstore.AutoWorker`
    and :meth:`switch`, which loads the workspace's current version into the engine, drops cached entries
    that still show an older automatic mask and restarts the worker (re-computing the masks of images not
    yet reviewed; edited, approved and skipped ones are never touched)."""

    def __init__(self, engine: Any, store: Any, compute: Callable[[str, Any], Any]) -> None:
        self.engine, self.store, self.compute = engine, store, compute
        self._lock = threading.Lock()
        self.worker: Any = None

    def start(self) -> None:
        with self._lock:
            if self.worker is not None:
                self.worker.close()
            self.worker = AutoWorker(self.store.ws, self.compute, version=lambda: self.engine.auto_version,
                                     on_done=self.store.forget_auto).start()

    def switch(self) -> None:
        ws = self.store.ws
        self.engine.load_automatic(str(resolve_model_path(ws.root)), ws.model_version)
        self.store.forget_all_auto()
        self.start()

    def close(self) -> None:
        with self._lock:
            if self.worker is not None:
                self.worker.close()
