"""Atomic, durable files of a workspace: masks written temp + fsync + rename (+ fsync of the folder), and
the one timestamp format of its state and log."""

from __future__ import annotations

import io
import os
import threading
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

__all__ = ["now_utc", "write_mask_png", "copy_durably"]


def now_utc() -> str:
    """The current time, UTC, ISO 8601 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_durably(src: Path, dest: Path, link: bool = True) -> str:
    """Put ``src`` at ``dest``: a hard link when ``link`` and the file system allows, else a copy written to
    a temporary name, fsync'ed and renamed. Returns ``"link"`` or ``"copy"``. ``src`` is only read."""
    import shutil

    dest.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dest)
            return "link"
        except OSError:
            pass
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with open(src, "rb") as fi, open(tmp, "wb") as fo:
            shutil.copyfileobj(fi, fo, 1 << 20)
            fo.flush()
            os.fsync(fo.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return "copy"


def write_mask_png(path: Path, mask: np.ndarray) -> None:
    """Write a bool H×W mask as a 0/255 one-channel PNG: temp file beside ``path``, fsync, rename, fsync
    of the folder. A reader (or a process restarted after kill -9) sees the old file or the new one."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(mask, bool).astype(np.uint8) * 255).save(buf, format="PNG", compress_level=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(buf.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
