"""Graphs exported once per model and weights, for ``--backend onnx``.

``$DERMASEG_CACHE/onnx/<model>-<first 16 hex digits of weights_sha256>[-int8]/`` (default
``~/.cache/dermaseg/onnx/``) holds what :func:`~dermaseg.export.onnx_export.export_model` writes. A folder
that is missing, incomplete, from another format version or at another opset than
:data:`~dermaseg.export.graphs.DEFAULT_OPSET` (an older dermaseg's cache) is (re-)exported; one whose files exist is used
as it is, and :class:`~dermaseg.export.runtime.OnnxRunner` checks every file's sha256 before loading it, so
a modified graph is refused, not re-exported over.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.export.graphs import DEFAULT_OPSET
from dermaseg.export.metadata import METADATA_FILE, read_metadata
from dermaseg.export.onnx_export import export_model, weights_sha256
from dermaseg.export.quantize import INT8_VERSION

__all__ = ["cache_root", "cache_dir", "cached_export"]


def cache_root() -> Path:
    """``$DERMASEG_CACHE/onnx``, else ``~/.cache/dermaseg/onnx``."""
    env = os.environ.get("DERMASEG_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "dermaseg") / "onnx"


def cache_dir(model: Any, int8: bool = False, digest: str | None = None) -> Path:
    """The cache folder of ``model``'s graphs (``digest``: its :func:`weights_sha256`, computed when None)."""
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(model.config.get("name", type(model).__name__)))
    digest = digest or weights_sha256(model)
    return cache_root() / f"{name}-{digest[:16]}{'-int8' if int8 else ''}"


def _complete(folder: Path) -> bool:
    """True when ``folder`` has a readable metadata file of this format and opset and every file it lists."""
    if not (folder / METADATA_FILE).is_file():
        return False
    try:
        meta = read_metadata(folder)
    except DermasegError:
        return False
    if meta.get("int8") and (meta.get("quantization") or {}).get("version") != INT8_VERSION:
        return False  # an older dermaseg's int8 graphs (dynamic only): made again
    return meta.get("opset") == DEFAULT_OPSET and all((folder / f).is_file() for f in meta["files"])


def cached_export(model: Any, int8: bool = False, quiet: bool = False) -> tuple[Path, str]:
    """The cache folder of ``model``'s graphs, exporting them first when they are not all there ->
    (folder, weights sha256)."""
    digest = weights_sha256(model)
    folder = cache_dir(model, int8, digest)
    if not _complete(folder):
        if not quiet:
            print(f"exporting {model.config.get('name', 'the model')} to ONNX{' (int8)' if int8 else ''} "
                  f"into {folder} (once)", file=sys.stderr, flush=True)
        export_model(model, folder, int8=int8)
    return folder, digest
