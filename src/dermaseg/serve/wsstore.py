"""The server's second store: the images of a workspace (``serve --workspace DIR``), behind the same
bounded LRU as uploads (:class:`~dermaseg.serve.store.ImageStore`).

A workspace image's entry is made on its first use from its row, with its files in the workspace
(``images/<name>``, ``.auto/<id>.png``, ``masks/<id>.png``): eviction drops only memory (every person's mask
is already on disk: it is saved before it becomes the entry's mask), and deleting an entry from the cache
never removes a file. An image whose automatic mask is not computed yet gets it on load, through the
``compute_auto`` callable the app passes (the Engine's automatic Predictor), or from the background
:class:`AutoWorker`, which computes them all, one at a time, in id order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.dicom.read import is_dicom
from dermaseg.errors import DermasegError
from dermaseg.io import read_image, read_mask
from dermaseg.serve.store import Entry, ImageStore, NotFound
from dermaseg.workspace.current import needs_auto, refresh_targets
from dermaseg.workspace.store import Workspace

__all__ = ["WorkspaceEntry", "WorkspaceStore", "AutoWorker"]

log = logging.getLogger("dermaseg.serve")


@dataclass(eq=False)
class WorkspaceEntry(Entry):
    """An open workspace image (``dir`` is the workspace folder; files are the workspace's own)."""

    file_name: str = ""
    compute_auto: Callable[[WorkspaceEntry], None] | None = None

    @property
    def upload(self) -> Path:
        return self.dir / "images" / self.file_name

    @property
    def auto_file(self) -> Path:
        return self.dir / ".auto" / f"{self.id}.png"

    @property
    def mask_file(self) -> Path:
        return self.dir / "masks" / f"{self.id}.png"

    def load(self) -> None:
        """As :meth:`Entry.load`, computing the automatic mask first when it is missing. Hold ``lock``."""
        if self.rgb is None:
            self.rgb = read_image(self.upload, name=self.file_name)
        if self.auto_mask is None and not self.auto_file.is_file() and self.compute_auto is not None:
            self.compute_auto(self)
        if self.auto_mask is None:
            self.auto_mask = read_mask(self.auto_file) if self.auto_file.is_file() else \
                np.zeros((self.height, self.width), bool)
        if self.mask is None:
            self.mask = read_mask(self.mask_file) if self.mask_kind != "auto" else self.auto_mask
        self.mask_spilled = True

    def saved(self, mask: np.ndarray, kind: str = "edit") -> None:
        """``mask`` is now the image's saved person-made mask (on disk): make it current."""
        self.mask, self.mask_kind, self.mask_spilled = mask, kind, True

    def evict(self) -> None:
        self.mask_spilled = True  # on disk already: nothing to write
        super().evict()

    def remove_files(self) -> None:
        """Nothing: the workspace's files outlive the cache."""


class WorkspaceStore(ImageStore):
    """Uploads as :class:`ImageStore`, plus the workspace's images under their ids (stems)."""

    def __init__(self, ws: Workspace, cache_bytes: int, compute_auto: Callable[[WorkspaceEntry], None] | None = None,
                 **kw: Any) -> None:
        super().__init__(cache_bytes, **kw)
        self.ws = ws
        self.compute_auto = compute_auto
        self._open_lock = threading.Lock()

    def _entry(self, image_id: str) -> WorkspaceEntry:
        row = self.ws.image(image_id)
        e = WorkspaceEntry(id=row["id"], name=row["name"], width=row["width"], height=row["height"],
                           dir=self.ws.root, file_name=row["name"], compute_auto=self.compute_auto)
        e.quality, e.flags = row["predicted_quality"], tuple(row["flags"])
        e.mask_kind = "edit" if row["has_mask"] else "auto"
        e.dicom = is_dicom(e.upload)  # its mask.dcm (a DICOM SEG) needs a DICOM source
        return e

    def get(self, image_id: str) -> Entry:
        try:
            return super().get(image_id)
        except NotFound:
            if not self.ws.has(image_id):
                raise
        with self._open_lock:  # two requests opening the same image make one entry
            e = self.peek(image_id)
            if e is None:
                e = self._entry(image_id)
                with self._lock:
                    self._entries[e.id] = e
                    while len(self._entries) > self.max_images:
                        self.delete(next(iter(self._entries)))
        return super().get(image_id)

    def delete(self, image_id: str) -> None:
        with self._lock:
            e = self._entries.get(image_id)
        if isinstance(e, WorkspaceEntry) or (e is None and self.ws.has(image_id)):
            # dropped from memory only (cache bound, expiry); the API refuses to delete workspace images
            with self._lock:
                self._entries.pop(image_id, None)
            if e is not None:
                with e.lock:
                    e.evict()
            return
        super().delete(image_id)

    def forget_auto(self, image_id: str) -> None:
        """Drop a cached entry still showing an automatic mask (a newer one is on disk); memory only."""
        e = self.peek(image_id)
        if isinstance(e, WorkspaceEntry) and e.mask_kind == "auto":
            self.delete(image_id)

    def forget_all_auto(self) -> None:
        """:meth:`forget_auto` of every cached entry (the automatic model changed)."""
        with self._lock:
            ids = list(self._entries)
        for i in ids:
            self.forget_auto(i)

    def close(self) -> None:
        super().close()
        self.ws.close()


class AutoWorker:
    """One background thread computing the automatic masks a workspace needs for the automatic model's
    version ``version()`` (:func:`dermaseg.workspace.current.refresh_targets`: images with none, and images
    not yet reviewed whose mask another version made), in id order; ``on_done(image_id)`` after each (the
    app drops a cached entry still showing the older automatic mask); stops at :meth:`close`."""

    def __init__(self, ws: Workspace, compute: Callable[[str, np.ndarray], None],
                 version: Callable[[], str] | None = None, on_done: Callable[[str], None] | None = None) -> None:
        self.ws, self.compute = ws, compute
        self.version = version or (lambda: ws.model_version)
        self.on_done = on_done or (lambda _id: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dermaseg-workspace-auto", daemon=True)
        self.done = 0

    def start(self) -> AutoWorker:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        version = self.version()
        for r in refresh_targets(self.ws, version):
            if self._stop.is_set():
                return
            try:
                if not needs_auto(self.ws, self.ws.image(r["id"]), version):
                    continue  # computed meanwhile, by a request that opened the image
                self.compute(r["id"], read_image(self.ws.image_path(r), name=r["name"]))
                self.done += 1
                self.on_done(r["id"])
            except DermasegError as e:
                log.warning("automatic mask of %s: %s", r["id"], e)
            except Exception:  # a model failure must not stop the server
                log.exception("automatic mask of %s failed", r["id"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

