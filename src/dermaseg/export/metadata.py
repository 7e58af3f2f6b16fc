"""The JSON written beside exported graphs (``dermaseg_onnx.json``), so they can be used without dermaseg.

Fields (every export): ``format`` ("dermaseg-onnx"), ``format_version``, ``model`` (registry name),
``source`` (the name or file it was loaded from), ``weights_sha256`` (of the model's weights, see
:func:`dermaseg.export.cache.weights_sha256`), ``dermaseg_version``, ``torch_version``, ``family``
("cnn" or "sam"), ``opset``, ``int8`` and ``quantization`` (how, or None), ``threshold`` (probability
above which a pixel is lesion), ``postprocess`` (what dermaseg does after thresholding), ``preprocess``
(every step from an RGB uint8 image to the first graph's input), ``graphs`` (role -> file, sha256, and
each input's and output's name, element type and shape, read back from the file; a dynamic dimension is
a name), ``files`` (every file written -> sha256). SAM family only: ``encoder_side`` (S), ``prompt``
(how boxes and points become ``point_coords`` / ``point_labels``), ``mask_outputs`` (which of the
decoder's 4 outputs dermaseg uses), ``multimask_default``, ``low_res_size``, ``postprocess`` steps
from low-resolution logits back to the image.

:func:`verify` checks each listed file's sha256 before a graph is loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.models.weights import sha256_file

__all__ = ["METADATA_FILE", "FORMAT", "FORMAT_VERSION", "read_metadata", "verify", "graph_io", "REQUIRED_FIELDS"]

METADATA_FILE = "dermaseg_onnx.json"
FORMAT = "dermaseg-onnx"
FORMAT_VERSION = 1
REQUIRED_FIELDS = ("format", "format_version", "model", "source", "weights_sha256", "dermaseg_version",
                   "family", "opset", "int8", "quantization", "threshold", "preprocess", "postprocess", "graphs",
                   "files")

_ELEM = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 11: "float64"}


def graph_io(path: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Inputs and outputs of an ONNX file, read from its graph (weights not loaded): each
    ``{"name", "type", "shape"}`` with a dynamic dimension given by its name."""
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name for i in g.initializer}

    def one(v) -> dict[str, Any]:
        t = v.type.tensor_type
        dims = [d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim]
        return {"name": v.name, "type": _ELEM.get(t.elem_type, str(t.elem_type)), "shape": dims}

    return {"inputs": [one(v) for v in g.input if v.name not in inits], "outputs": [one(v) for v in g.output]}


def read_metadata(folder: str | os.PathLike) -> dict[str, Any]:
    """The metadata of an export folder; DermasegError when absent or not ours."""
    p = Path(folder) / METADATA_FILE
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DermasegError(f"{p}: not found (not a folder written by dermaseg export)") from None
    except (OSError, ValueError) as e:
        raise DermasegError(f"{p}: cannot read it ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DermasegError(f"{p}: not a dermaseg ONNX export description")
    if meta.get("format_version") != FORMAT_VERSION:
        raise DermasegError(f"{p}: format version {meta.get('format_version')}, this dermaseg reads "
                            f"{FORMAT_VERSION}: export the model again")
    missing = [k for k in REQUIRED_FIELDS if k not in meta]
    if missing:
        raise DermasegError(f"{p}: missing field(s) {', '.join(missing)}")
    return meta


def verify(folder: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Check that every file ``meta["files"]`` lists is in ``folder`` with its recorded sha256; a missing
    or changed file -> DermasegError naming it."""
    folder = Path(folder)
    for name, digest in meta["files"].items():
        p = folder / name
        if not p.is_file():
            raise DermasegError(f"{p}: missing (listed in {METADATA_FILE})")
        got = sha256_file(p)
        if got != digest:
            raise DermasegError(f"{p}: sha256 {got[:12]}... is not the {digest[:12]}... recorded in "
                                f"{METADATA_FILE}: the file changed after export; export again (a cached "
                                f"export: delete {folder} and dermaseg re-exports it)")
