"""The server's open images: an LRU cache bounded in bytes, backed by a private temporary folder.

Each upload gets a random id (``uuid4().hex``) and lives in a folder made by ``tempfile.mkdtemp``:
``<id>.upload`` (the bytes received), ``<id>.auto.png`` (the automatic mask) and, once the entry has been
evicted with an edited mask, ``<id>.mask.png``. File names come only from the id; nothing a client sends
becomes a path. In memory an entry holds its decoded image, its automatic and current masks and its SAM
:class:`~dermaseg.inference.predictor.ImageState`; these count against ``cache_bytes`` and the least
recently used entries drop them (spilling an edited mask to disk first) until the total fits. An evicted
entry is restored on its next use: image decoded again from the upload, masks read back (PNG, exact), the
SAM embedding recomputed when a prompt needs it. Entries idle for ``ttl_s`` are deleted with their files;
so are the oldest beyond ``max_images``; :meth:`ImageStore.close` removes the folder.

Locking: the store's lock guards the table; each entry's lock serialises work on that entry. An entry in
use by a request is never evicted under it: the cap is enforced again when the request ends.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError
from dermaseg.io import png_pixels, read_image, read_mask

__all__ = ["Entry", "ImageStore", "NotFound", "encode_png", "decode_mask_png", "release_memory"]


def release_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``; elsewhere nothing). Evicted images
    and embeddings are freed in whichever thread's malloc arena held them, and glibc keeps such pages
    mapped: without this, the process's RSS grows past the cache cap under concurrent load."""
    global _trim
    if _trim is None:
        import ctypes
        import ctypes.util

        try:
            _trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)


_trim: Any = None


class NotFound(DermasegError):
    """An image id the server does not hold (never uploaded, deleted or expired)."""


def encode_png(a: np.ndarray) -> bytes:
    """uint8 H×W / H×W×3 RGB, or a bool mask (written 0/255, one channel) -> PNG bytes (lossless)."""
    import cv2

    a = png_pixels(a)  # the one 0/255 rule (dermaseg.io)
    if a.ndim == 3:
        a = a[..., ::-1]  # OpenCV writes BGR
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(a), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 fails only on unsupported dtypes
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def decode_mask_png(data: bytes, name: str = "mask", max_pixels: int | None = None) -> np.ndarray:
    """PNG (or any image) bytes -> bool H×W by dermaseg's mask rule (:func:`dermaseg.io.read_mask`);
    more than ``max_pixels`` pixels is refused from the header."""
    import io

    return read_mask(io.BytesIO(data), name=name, max_pixels=max_pixels)


@dataclass(eq=False)
class Entry:
    """One open image. Fields below ``# resident`` are None while the entry is evicted."""

    id: str
    name: str
    width: int
    height: int
    dir: Path
    quality: float | None = None
    flags: tuple[str, ...] = ()
    source: str = ""
    sam: str = "pending"  # "pending" | "ready" | "evicted" | "unavailable"
    mask_kind: str = "auto"  # "auto" | "prompt" | "edit"
    owner: str | None = None  # the account that uploaded it (``--auth``); None: anyone
    #: the pixel size (mm) the upload states itself (a DICOM's pixel spacing), used when a request gives none
    pixel_size: float | None = None
    #: the upload is a DICOM image (``GET /api/images/{id}/mask.dcm`` writes its DICOM SEG)
    dicom: bool = False
    last_used: float = field(default_factory=time.monotonic)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # resident
    rgb: np.ndarray | None = None
    auto_mask: np.ndarray | None = None
    mask: np.ndarray | None = None
    sam_state: Any = None
    mask_spilled: bool = False
    deleted: bool = False

    @property
    def upload(self) -> Path:
        return self.dir / f"{self.id}.upload"

    @property
    def auto_file(self) -> Path:
        return self.dir / f"{self.id}.auto.png"

    @property
    def mask_file(self) -> Path:
        return self.dir / f"{self.id}.mask.png"

    @property
    def resident(self) -> bool:
        return self.rgb is not None

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: image, masks and the SAM state (its copy of the image counted once)."""
        n = sum(int(a.nbytes) for a in (self.rgb, self.auto_mask, self.mask) if a is not None)
        if self.sam_state is not None:
            n += int(self.sam_state.nbytes) - (int(self.rgb.nbytes) if self.sam_state.rgb is self.rgb else 0)
        return n

    def set_mask(self, mask: np.ndarray, kind: str) -> None:
        """Make ``mask`` (bool H×W) the current mask; a spilled copy on disk becomes stale."""
        self.mask = mask
        self.mask_kind = kind
        self.mask_spilled = False

    def load(self) -> None:
        """Restore what eviction dropped (image decoded again, masks read back). Hold ``lock``."""
        if self.deleted:  # deleted by another request while this one waited for the lock
            raise NotFound(f"image {self.id}: no such image (deleted)")
        if self.rgb is None:
            self.rgb = read_image(self.upload, name=self.name)
        if self.auto_mask is None:
            self.auto_mask = read_mask(self.auto_file)
        if self.mask is None:
            self.mask = read_mask(self.mask_file) if self.mask_kind != "auto" else self.auto_mask
            self.mask_spilled = self.mask_kind != "auto"

    def evict(self) -> None:
        """Drop everything held in memory, writing an edited mask to disk first. Hold ``lock``."""
        if self.mask is not None and self.mask_kind != "auto" and not self.mask_spilled:
            tmp = self.mask_file.with_suffix(".part")
            tmp.write_bytes(encode_png(self.mask))
            tmp.replace(self.mask_file)
            self.mask_spilled = True
        self.rgb = self.auto_mask = self.mask = self.sam_state = None
        if self.sam == "ready":
            self.sam = "evicted"

    def remove_files(self) -> None:
        for p in (self.upload, self.auto_file, self.mask_file, self.mask_file.with_suffix(".part")):
            p.unlink(missing_ok=True)


class ImageStore:
    """Open images by id, bounded to ``cache_bytes`` in memory (see the module docstring)."""

    def __init__(self, cache_bytes: int, max_images: int = 1000, ttl_s: float = 4 * 3600.0) -> None:
        self.cache_bytes = int(cache_bytes)
        self.max_images = int(max_images)
        self.ttl_s = float(ttl_s)
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.RLock()
        self._dir: Path | None = None
        self.evictions = 0
        self.peak_bytes = 0  # most held at once, measured before evicting (entries in use included)

    # ------------------------------------------------------------- folder
    @property
    def dir(self) -> Path:
        """The private temporary folder (made on first use, mode 0700)."""
        with self._lock:
            if self._dir is None or not self._dir.is_dir():
                self._dir = Path(tempfile.mkdtemp(prefix="dermaseg-serve-"))
            return self._dir

    def close(self) -> None:
        """Forget every entry and remove the temporary folder."""
        with self._lock:
            self._entries.clear()
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None

    # ------------------------------------------------------------- table
    def new_entry(self, name: str) -> Entry:
        """A fresh entry with a random id in the store's folder (not yet in the table)."""
        return Entry(id=uuid.uuid4().hex, name=name, width=0, height=0, dir=self.dir)

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._entries[entry.id] = entry
            while len(self._entries) > self.max_images:
                old = next(iter(self._entries))
                self.delete(old)
        self.expire()
        self.settle(entry)

    def get(self, image_id: str) -> Entry:
        """The entry for ``image_id`` (marked as just used), or :class:`NotFound`. Expires idle entries."""
        self.expire()
        with self._lock:
            e = self._entries.get(image_id)
            if e is None:
                raise NotFound(f"image {image_id}: no such image (never uploaded, deleted or expired)")
            self._entries.move_to_end(image_id)
            e.last_used = time.monotonic()
            return e

    def peek(self, image_id: str) -> Entry | None:
        """The entry without marking it used (background work)."""
        with self._lock:
            return self._entries.get(image_id)

    def delete(self, image_id: str) -> None:
        with self._lock:
            e = self._entries.pop(image_id, None)
        if e is None:
            raise NotFound(f"image {image_id}: no such image (never uploaded, deleted or expired)")
        with e.lock:
            e.deleted = True
            e.evict()
            e.remove_files()
        release_memory()

    def stats(self) -> dict:
        """Open images, bytes held now and at most, the cap, evictions so far."""
        with self._lock:
            return {"images": len(self._entries), "resident": sum(e.resident for e in self._entries.values()),
                    "cache_bytes": self.nbytes, "peak_bytes": self.peak_bytes, "cap_bytes": self.cache_bytes,
                    "evictions": self.evictions}

    def __len__(self) -> int:
        return len(self._entries)

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._entries)

    # ------------------------------------------------------------- memory
    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(e.nbytes for e in self._entries.values())

    def settle(self, keep: Entry | None = None) -> None:
        """Evict least recently used entries until the total fits ``cache_bytes``; ``keep`` goes last,
        and an entry busy in another thread is skipped (it is settled when its request ends)."""
        with self._lock:
            total = sum(e.nbytes for e in self._entries.values())
            self.peak_bytes = max(self.peak_bytes, total)
            if total <= self.cache_bytes:
                return
            order = [e for e in self._entries.values() if e is not keep and e.resident]
            if keep is not None and keep.resident:
                order.append(keep)
            freed = 0
            for e in order:
                if total <= self.cache_bytes:
                    break
                if not e.lock.acquire(blocking=False):
                    continue
                try:
                    total -= e.nbytes
                    e.evict()
                    self.evictions += 1
                    freed += 1
                finally:
                    e.lock.release()
        if freed:
            release_memory()

    def expire(self, now: float | None = None) -> list[str]:
        """Delete entries idle for more than ``ttl_s``; returns their ids. Cheap when none is: the table
        is in order of last use, so the scan stops at the first recent entry."""
        now = time.monotonic() if now is None else now
        old = []
        with self._lock:
            for i, e in self._entries.items():
                if now - e.last_used <= self.ttl_s:
                    break
                old.append(i)
        for i in old:
            try:
                self.delete(i)
            except NotFound:
                pass
        return old
