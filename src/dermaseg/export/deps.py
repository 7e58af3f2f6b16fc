"""The optional ``onnx`` extra: import onnx / onnxruntime, or say in one line what to install."""

from __future__ import annotations

from types import ModuleType

from dermaseg.errors import DermasegError

__all__ = ["INSTALL_HINT", "require", "require_onnxruntime", "require_export"]

INSTALL_HINT = 'pip install "dermaseg[onnx]"'


def require(*modules: str, what: str = "ONNX export") -> list[ModuleType]:
    """Import ``modules`` (e.g. ``"onnx"``, ``"onnxruntime"``); a missing one -> DermasegError, one line."""
    import importlib

    out = []
    for name in modules:
        try:
            out.append(importlib.import_module(name))
        except ImportError as e:
            missing = (getattr(e, "name", None) or name).split(".")[0]
            raise DermasegError(f"{what} needs {missing}, which is not installed: {INSTALL_HINT}") from None
    return out


def require_onnxruntime() -> ModuleType:
    """onnxruntime, for running exported graphs (``--backend onnx``)."""
    return require("onnxruntime", what="--backend onnx")[0]


def require_export() -> ModuleType:
    """onnx (with onnxruntime and onnxscript, which torch's exporter and ``--int8`` use), for ``dermaseg export``."""
    return require("onnx", "onnxscript", "onnxruntime", what="dermaseg export")[0]
