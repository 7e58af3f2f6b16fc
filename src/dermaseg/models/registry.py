"""One factory for every model: ``create_model(name, **kw) -> nn.Module``.

Names are registered by the modules that define the models (``dermaseg.models.cnn``,
``dermaseg.models.sam.*``, the bundled ``default``), imported lazily on first use, as
segmentation_models.pytorch ``create_model`` and segment-anything ``sam_model_registry`` do.
A registered *pattern* such as ``unet-<encoder>`` matches any name with that prefix.
A path to a saved model file (``{"config": ..., "state_dict": ...}``) is also a valid name.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError

__all__ = [
    "ModelInfo",
    "register_model",
    "create_model",
    "list_models",
    "model_info",
    "save_model",
    "print_models",
]

#: modules that register models when imported; each must import cheaply apart from torch
_PROVIDERS = (
    "dermaseg.models.cnn",
    "dermaseg.models.sam",
    "dermaseg.models.default",
    "dermaseg.models.finetuned",
)


@dataclass
class ModelInfo:
    """What ``dermaseg models`` shows about one model name."""

    name: str
    builder: Callable[..., Any]
    family: str  # "cnn" or "sam"
    input_size: str  # e.g. "256x256" or "1024 (longest side)"
    description: str = ""
    #: callable returning (weights_description, available: bool, detail)
    weights: Callable[[], tuple[str, bool, str]] | None = None
    #: parameter count, or None when it would need the weights to know
    params: int | None = None
    pattern: bool = False  # name is a prefix, e.g. "unet-" matches "unet-mobilenet_v2"
    extra: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, ModelInfo] = {}
_loaded = False


def register_model(info: ModelInfo) -> ModelInfo:
    """Register a model (or a name pattern). Later registrations of the same name replace earlier ones."""
    _REGISTRY[info.name] = info
    return info


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _PROVIDERS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:  # a provider exists but one of its imports is missing: say so
                raise


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by family then name."""
    _ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda i: (i.family, i.name))


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name`` (exact name first, then the longest matching pattern)."""
    _ensure_loaded()
    if name in _REGISTRY and not _REGISTRY[name].pattern:
        return _REGISTRY[name]
    matches = [i for i in _REGISTRY.values() if i.pattern and name.startswith(i.name)]
    if matches:
        return max(matches, key=lambda i: len(i.name))
    names = ", ".join(i.name + ("<...>" if i.pattern else "") for i in list_models())
    raise DermasegError(f"unknown model '{name}'; known models: {names} (or a saved model file path)")


def _looks_like_path(name: str) -> bool:
    return os.sep in name or name.endswith((".pt", ".pth", ".safetensors")) or Path(name).is_file()


def create_model(name: str, **kwargs: Any):
    """Build a model by registry name, or load a saved model file. Unknown name -> error listing names."""
    if _looks_like_path(str(name)):
        return load_model(name, **kwargs)
    info = model_info(name)
    return info.builder(name, **kwargs)


def save_model(model, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Save ``{"config", "state_dict", "extra"}`` atomically; ``create_model(path)`` loads it back."""
    import torch

    from dermaseg.io import atomic_path

    blob = {"config": dict(model.config), "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def load_model(path: str | os.PathLike, **kwargs: Any):
    """Load a file written by :func:`save_model`: rebuild from its config, then load its weights."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise DermasegError(f"{p}: model file not found")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DermasegError(f"{p}: not a dermaseg model file ({type(e).__name__}: {e})") from e
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise DermasegError(f"{p}: not a dermaseg model file (expected keys 'config' and 'state_dict')")
    config = dict(blob["config"])
    name = config.pop("name")
    # the saved weights replace any pretrained ones: do not look for them
    config["pretrained"] = False
    config.update(kwargs)
    model = create_model(name, **config)
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError as e:
        raise DermasegError(f"{p}: weights do not fit model '{name}' ({str(e).splitlines()[0]})") from e
    model.config["source_file"] = str(p)
    return model


def describe_models() -> list[dict[str, Any]]:
    """Rows for ``dermaseg models``: name, family, input size, params, weights source, available."""
    rows = []
    for info in list_models():
        src, ok, detail = info.weights() if info.weights else ("none (random init)", True, "")
        rows.append({
            "name": info.name + (info.extra.get("placeholder", "<encoder>") if info.pattern else ""),
            "family": info.family,
            "input_size": info.input_size,
            "params": info.params,
            "weights": src,
            "available": ok,
            "detail": detail,
            "description": info.description,
        })
    return rows


def print_models(as_json: bool = False) -> None:
    """Print :func:`describe_models` as a rich table, or as JSON."""
    rows = describe_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="dermaseg models")
    for col in ("name", "family", "input", "params", "weights from", "available"):
        t.add_column(col, no_wrap=col in ("name", "params"))
    for r in rows:
        params = f"{r['params'] / 1e6:.1f} M" if r["params"] else "?"
        avail = "[green]yes[/green]" if r["available"] else f"[red]no[/red] {r['detail']}"
        t.add_row(r["name"], r["family"], r["input_size"], params, r["weights"], avail)
    import sys

    # piped or redirected: rich would assume 80 columns and wrap every cell; use a wide line instead
    Console(width=None if sys.stdout.isatty() else 220).print(t)
