"""A copy of a bundled asset folder with one byte of its weights file flipped (the sha256 check must refuse it)."""

from __future__ import annotations

import shutil
from pathlib import Path


def tampered_copy(asset_dir: Path, dest: Path, weights: str, xor: int = 0xFF) -> Path:
    """Copy ``asset_dir`` to ``dest`` and flip bits ``xor`` of the middle byte of ``dest/weights``."""
    shutil.copytree(asset_dir, dest)
    blob = bytearray((dest / weights).read_bytes())
    blob[len(blob) // 2] ^= xor
    (dest / weights).write_bytes(bytes(blob))
    return dest
