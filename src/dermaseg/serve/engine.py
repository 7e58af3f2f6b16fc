"""The server's models: the automatic Predictor and the prompted (SAM-family) Predictor, each used by one
request at a time behind its own lock (torch on a CPU gains nothing from two concurrent calls), and a
background worker that computes SAM embeddings of new uploads so that prompts are instant afterwards.

Every mask the server returns comes from these two :class:`~dermaseg.inference.predictor.Predictor`
objects. Lock order, everywhere: an entry's lock, then a model's lock (no deadlock). A prompt waiting for
the SAM model goes before queued background embeddings (:class:`PriorityLock`). The model calls
themselves run on one dedicated thread per model, whichever request thread asked: torch and its
libraries keep per-thread pools and scratch memory, which would otherwise grow with the server's
request threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np

from dermaseg.data.prompts import check_user_prompt
from dermaseg.errors import DermasegError
from dermaseg.inference.predictor import Predictor, load_predictor
from dermaseg.serve.security import DEFAULT_REQUEST_TIMEOUT_S, Busy
from dermaseg.serve.store import Entry, ImageStore

__all__ = ["Engine", "PriorityLock", "check_points"]

log = logging.getLogger("dermaseg.serve")
T = TypeVar("T")


class PriorityLock:
    """A mutex where :meth:`urgent` holders (a user waiting for a prompt) go before :meth:`background`
    ones (prefetching embeddings): background work starts only while no urgent caller waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cv = threading.Condition()
        self._urgent = 0

    @contextmanager
    def urgent(self, timeout: float | None = None) -> Iterator[None]:
        """Hold the lock before any background holder; :class:`Busy` after ``timeout`` seconds waiting."""
        with self._cv:
            self._urgent += 1
        try:
            if not self._lock.acquire(timeout=-1 if timeout is None else timeout):
                raise Busy(f"the prompted model stayed busy for {timeout:g} s (the per-request limit): "
                           "retry shortly", retry_after=max(1, int(timeout or 1) // 2))
            try:
                yield
            finally:
                self._lock.release()
        finally:
            with self._cv:
                self._urgent -= 1
                self._cv.notify_all()

    @contextmanager
    def background(self) -> Iterator[None]:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._urgent == 0)
            self._lock.acquire()
            with self._cv:
                if self._urgent == 0:
                    break
            self._lock.release()  # an urgent caller arrived meanwhile: let it go first
        try:
            yield
        finally:
            self._lock.release()


class _ComputeThread:
    """Runs callables on one dedicated thread, one at a time (callers serialise with their own lock)."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def run(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        return self._pool.submit(fn, *args, **kw).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)


def _predictor(model: Any, device: str | None, threads: int | None, backend: str = "torch"):
    """A Predictor from a registry name / model file, or a ready Predictor as is."""
    if model is None or isinstance(model, Predictor):
        return model
    return load_predictor(model, device=device, threads=threads, backend=backend)


def check_points(points, width: int, height: int, box=None, labels=None) -> None:
    """The prompt rule people's prompts follow (:func:`dermaseg.data.prompts.check_user_prompt`: points on
    the image's pixels, at most 64 of them, a box with area inside the image)."""
    check_user_prompt(box, points, labels, width, height)


class Engine:
    """The automatic model, the prompted model and the embedding worker of one server."""

    def __init__(self, model: Any = "default", sam: Any = "litemedsam-derm", device: str | None = None,
                 threads: int | None = None, prefetch: bool = True, backend: str = "torch",
                 wait_s: float = DEFAULT_REQUEST_TIMEOUT_S, auto_version: str | None = None) -> None:
        #: longest a request waits for a model (the per-request limit) before :class:`Busy` (503)
        self.wait_s = float(wait_s)
        self._load_args = {"device": device, "threads": threads, "backend": backend}
        self.auto = _predictor(model, device, threads, backend)
        #: the label of the automatic model's masks (a workspace's model version: ``default``, ``vN``)
        self.auto_version = auto_version or str(getattr(self.auto, "name", model))
        self.sam = _predictor(sam, device, threads, backend)
        if self.sam is not None and not self.sam.promptable:
            raise DermasegError(f"--sam {self.sam.name}: not a SAM-family model (see `dermaseg models`)")
        self.auto_lock = threading.Lock()
        self.sam_lock = PriorityLock()
        self._auto_thread = _ComputeThread("dermaseg-auto")
        self._sam_thread = _ComputeThread("dermaseg-sam") if self.sam is not None else None
        self.prefetch = bool(prefetch and self.sam is not None)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def describe(self) -> dict:
        """Names and kinds of the two models (``GET /api/models``)."""
        def info(p) -> dict | None:
            if p is None:
                return None
            return {"name": p.name, "kind": "sam" if p.promptable else "cnn", "auto": p.auto,
                    "device": str(p.device), "backend": getattr(p, "backend", "torch")}

        return {"automatic": info(self.auto), "prompted": info(self.sam)}

    # ------------------------------------------------------------- automatic
    def automatic(self, rgb: np.ndarray):
        """The automatic Prediction of an RGB image (no prompt)."""
        return self.automatic_versioned(rgb)[0]

    def automatic_versioned(self, rgb: np.ndarray):
        """(the automatic Prediction, the version label of the model that made it)."""
        def run():
            try:
                self.auto.set_image(rgb)
                return self.auto.predict(), self.auto_version
            finally:
                self.auto.reset_image()

        if not self.auto_lock.acquire(timeout=self.wait_s):
            raise Busy(f"the automatic model stayed busy for {self.wait_s:g} s (the per-request limit): "
                       "retry shortly", retry_after=max(1, int(self.wait_s) // 2))
        try:
            return self._auto_thread.run(run)
        finally:
            self.auto_lock.release()

    def load_automatic(self, model: Any, version: str) -> None:
        """Load ``model`` (loaded before taking the lock, so requests go on meanwhile) and make it the
        automatic model, labelled ``version``: a workspace's new current version."""
        new = _predictor(model, **self._load_args)
        with self.auto_lock:
            self.auto, self.auto_version = new, str(version)

    # ------------------------------------------------------------- prompted
    def _require_sam(self) -> None:
        if self.sam is None:
            raise DermasegError("this server runs without a prompted model (started with --sam none)")

    def _embed_now(self, rgb: np.ndarray):
        try:
            self.sam.set_image(rgb)
            return self.sam.image_state
        finally:
            self.sam.reset_image()

    def embed(self, entry: Entry, background: bool = False) -> None:
        """Make sure ``entry`` has its SAM state (computing it if needed). Hold ``entry.lock``."""
        self._require_sam()
        if entry.sam_state is not None:
            return
        entry.load()
        with self.sam_lock.background() if background else self.sam_lock.urgent(self.wait_s):
            entry.sam_state = self._sam_thread.run(self._embed_now, entry.rgb)
        entry.sam = "ready"

    def prompt(self, entry: Entry, box=None, points=None, labels=None, rgb: np.ndarray | None = None,
               edited: np.ndarray | None = None, before: np.ndarray | None = None):
        """The prompted Prediction on ``entry`` (its cached embedding, computed first if missing), or on
        ``rgb`` alone when ``entry`` is None (one-shot). ``edited``: the person's edited mask the prompt
        follows (kept where the prompt does not change the model's mask; ``before``: the mask they edited
        when the image's session did not make it), see :meth:`Predictor.apply_edit`. Hold ``entry.lock``."""
        self._require_sam()
        if entry is not None:
            entry.load()

        def run(state):
            try:
                if state is None:
                    self.sam.set_image(rgb)
                else:
                    self.sam.restore_image(state)
                    if edited is not None:
                        self.sam.apply_edit(edited, before)
                return self.sam.predict(box=box, points=points, point_labels=labels)
            finally:
                self.sam.reset_image()

        # embedding (when missing) and prompt under one hold of the model: a computed embedding is used at
        # once, instead of waiting in memory, uncounted-for eviction, while other prompts take their turn
        with self.sam_lock.urgent(self.wait_s):
            if entry is not None and entry.sam_state is None:
                entry.sam_state = self._sam_thread.run(self._embed_now, entry.rgb)
                entry.sam = "ready"
            return self._sam_thread.run(run, None if entry is None else entry.sam_state)

    # ------------------------------------------------------------- background
    def schedule_embedding(self, store: ImageStore, image_id: str) -> None:
        """Queue the SAM embedding of a new upload (one worker thread, first come first served)."""
        if not self.prefetch:
            return
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dermaseg-embed")
            self._pool.submit(self._embed_job, store, image_id)

    def _embed_job(self, store: ImageStore, image_id: str) -> None:
        entry = store.peek(image_id)
        if entry is None:
            return
        try:
            with entry.lock:
                if store.peek(image_id) is None or entry.sam_state is not None:
                    return
                if not entry.resident:  # pushed out of the cache while queued: compute it when prompted
                    entry.sam = "evicted"
                    return
                self.embed(entry, background=True)
            store.settle(keep=None)
        except Exception:  # an upload deleted meanwhile, or a model failure: the next prompt retries
            log.exception("background embedding of %s failed", image_id)
            entry.sam = "evicted" if entry.sam != "ready" else entry.sam

    def close(self) -> None:
        """Stop the background worker (queued embeddings are dropped; a running one finishes). The model
        threads stay: an app restarted in the same process (tests) uses them again."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
