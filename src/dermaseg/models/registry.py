"""The model registry and its one factory: ``create_model(name, **kw) -> nn.Module``.

Names are registered by the modules that define the models (:data:`PROVIDERS`: ``dermaseg.models.cnn``,
each SAM family under ``dermaseg.models.sam``, the bundled ``default``), imported on first use, as
segmentation_models.pytorch ``create_model`` and segment-anything ``sam_model_registry`` do. A registered
*pattern* such as ``unet-<encoder>`` matches any name with that prefix. A path to a saved model file
(:mod:`dermaseg.models.files`) is also a valid name.

What a model is (``ModelInfo.family``: ``cnn`` or ``sam``; ``ModelInfo.task``: the training task that
trains it) is asked of the registry (:func:`model_info`, :func:`model_family`), never read off the name.
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
from dermaseg.models.files import MODEL_FILE_SUFFIXES, read_model_file, resolve_model_path

__all__ = [
    "ModelInfo",
    "PROVIDERS",
    "register_model",
    "create_model",
    "load_model",
    "list_models",
    "model_info",
    "model_family",
    "describe_models",
    "print_models",
    "needs_training",
    "require_trained",
    "names_model_file",
    "train_command",
]

#: modules that register models when imported (they import this module: the registry imports them by name)
PROVIDERS = (
    "dermaseg.models.cnn",
    "dermaseg.models.sam.litemedsam",
    "dermaseg.models.sam.litemedsam_derm",
    "dermaseg.models.sam.mobilesam",
    "dermaseg.models.sam.segment_anything",
    "dermaseg.models.sam.finetuned",
    "dermaseg.models.default",
)


@dataclass
class ModelInfo:
    """What ``dermaseg models`` shows about one model name."""

    name: str
    builder: Callable[..., Any]
    family: str  # "cnn" or "sam"
    input_size: str  # e.g. "256x256" or "1024 (longest side)"
    #: the training task that trains it as is: "cnn", "skinsam" or "melseg"; None for a pretrained SAM model
    #: (train it as skinsam-<name> or melseg-<name>). Default: "cnn" for a CNN, else None.
    task: str | None = None
    description: str = ""
    #: callable returning (weights_description, available: bool, detail)
    weights: Callable[[], tuple[str, bool, str]] | None = None
    #: parameter count, or None when it would need the weights to know
    params: int | None = None
    pattern: bool = False  # name is a prefix, e.g. "unet-" matches "unet-mobilenet_v2"
    #: why a model built from this *name* cannot segment yet (e.g. "its decoder is random"), None when it
    #: can. A trained file of the same architecture (``run/best.pt``) always can.
    untrained: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task is None and self.family == "cnn":
            self.task = "cnn"


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
    for mod in PROVIDERS:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:  # a provider exists but one of its imports is missing: say so
                raise


def _lookup(name: str) -> ModelInfo | None:
    """The registry entry for a model name (exact name first, then the longest matching pattern), or None."""
    _ensure_loaded()
    if name in _REGISTRY and not _REGISTRY[name].pattern:
        return _REGISTRY[name]
    matches = [i for i in _REGISTRY.values() if i.pattern and name.startswith(i.name)]
    return max(matches, key=lambda i: len(i.name)) if matches else None


def names_model_file(name: str | os.PathLike) -> bool:
    """True when ``--model NAME`` means a saved model file: a path separator or a model-file suffix
    (``runs/a/best.pt``, ``m.safetensors``), or an existing file whose name is no registered model. A
    registered name wins over a file of that name in the working folder (``./default`` loads the file)."""
    name = str(name)
    if Path(name).is_dir() and _lookup(name) is None:
        return True
    if os.sep in name or (os.altsep and os.altsep in name) or name.endswith(MODEL_FILE_SUFFIXES):
        return True
    return Path(name).is_file() and _lookup(name) is None


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by family then name."""
    _ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda i: (i.family, i.name))


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name`` (exact name first, then the longest matching pattern); for a saved
    model file, the entry of the model it holds."""
    if names_model_file(name):

        if resolve_model_path(name) == "default":
            return model_info("default")
        f = read_model_file(name)
        try:
            return model_info(f.config["name"])
        except DermasegError as e:
            raise DermasegError(f"{f.path}: holds model '{f.config['name']}', which this dermaseg does not "
                                "know") from e
    info = _lookup(name)
    if info is not None:
        return info
    names = ", ".join(i.name + ("<...>" if i.pattern else "") for i in list_models())
    raise DermasegError(f"unknown model '{name}'; known models: {names} (or a saved model file path)")


def model_family(name: str) -> str:
    """``"cnn"`` or ``"sam"``: the family of a registry name or of the model in a saved file."""
    return model_info(name).family


def create_model(name: str, **kwargs: Any):
    """Build a model by registry name, or load a saved model file. Unknown name -> error listing names."""
    if names_model_file(name):

        if resolve_model_path(name) == "default":  # a workspace still on the bundled model
            return model_info("default").builder("default", **kwargs)
        return load_model(name, **kwargs)
    info = model_info(name)
    return info.builder(name, **kwargs)


def load_model(path: str | os.PathLike, **kwargs: Any):
    """Rebuild the model of a saved file from its config (no pretrained weights looked up), then load its
    weights; ``kwargs`` override config values. Weights that do not fit -> DermasegError."""
    f = read_model_file(path)
    config = dict(f.config)
    name = config.pop("name")
    # the saved weights replace any pretrained ones: do not look for them
    config["pretrained"] = False
    config.update(kwargs)
    if names_model_file(name):
        raise DermasegError(f"{f.path}: not a dermaseg model file (its config names another file)")
    try:
        model = create_model(name, **config)
    except DermasegError as e:
        raise DermasegError(f"{f.path}: cannot rebuild model '{name}' ({e})") from e
    except (TypeError, ValueError, KeyError) as e:
        raise DermasegError(f"{f.path}: cannot rebuild model '{name}' from its config ({e})") from e
    try:
        model.load_state_dict(f.state_dict)
    except RuntimeError as e:
        raise DermasegError(f"{f.path}: weights do not fit model '{name}' ({str(e).splitlines()[0]})") from e
    model.config["source_file"] = str(f.path)
    return model


def train_command(name: str) -> str:
    """The ``dermaseg train`` line that trains ``name`` (a registry name)."""
    task = model_info(name).task
    recipe = f" --recipe {task}" if task in ("skinsam", "melseg") else ""
    return f"dermaseg train --data DATA{recipe} --model {name} --out RUN"


def needs_training(model: Any) -> str | None:
    """Why ``model`` cannot segment as is (None when it can): a registry name whose :class:`ModelInfo` says
    ``untrained`` (``unet-<encoder>``, ``fpn-<encoder>``: random decoder; ``skinsam-``/``melseg-``: the
    fine-tuning has not happened), or a built model carrying such a name. A saved model file, a model loaded
    from one (``config["source_file"]``) and the bundled model are trained."""
    if isinstance(model, str | os.PathLike):
        name = str(model)
        if names_model_file(name):
            return None
    else:
        config = getattr(model, "config", None) or {}
        if config.get("source_file") or config.get("bundled") or config.get("trained"):
            return None
        name = config.get("name")
        if not name:
            return None
    try:
        return model_info(name).untrained
    except DermasegError:
        return None  # an unknown name fails later, where it is built, with the list of names


def require_trained(model: Any, option: str = "--model") -> None:
    """Raise :class:`DermasegError` (one line naming the fix) when :func:`needs_training` says ``model``
    would give meaningless masks; ``dermaseg segment`` and ``dermaseg evaluate`` refuse such models."""
    why = needs_training(model)
    if why is None:
        return
    name = str(model) if isinstance(model, str | os.PathLike) else str(model.config.get("name"))
    raise DermasegError(f"{option} {name}: needs training ({why}), so its masks would mean nothing; train it "
                        f"({train_command(name)}) and pass {option} RUN/best.pt, or use {option} default")


def describe_models() -> list[dict[str, Any]]:
    """Rows for ``dermaseg models``: name, family, input size, params, weights source, available, and
    ``ready`` (can segment as built from its name) with ``needs_training`` (why not, and the command)."""
    rows = []
    for info in list_models():
        src, ok, detail = info.weights() if info.weights else ("none (random init)", True, "")
        name = info.name + (info.extra.get("placeholder", "<encoder>") if info.pattern else "")
        rows.append({
            "name": name,
            "family": info.family,
            "input_size": info.input_size,
            "params": info.params,
            "weights": src,
            "available": ok,
            "detail": detail,
            "ready": info.untrained is None,
            "needs_training": None if info.untrained is None else
            f"{info.untrained}; {train_command(name)}",
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
    from rich.markup import escape
    from rich.table import Table

    t = Table(title="dermaseg models")
    for col in ("name", "family", "input", "params", "weights from", "available", "ready to segment"):
        t.add_column(col, no_wrap=col in ("name", "params"))
    for r in rows:
        params = f"{r['params'] / 1e6:.1f} M" if r["params"] else "?"
        avail = "[green]yes[/green]" if r["available"] else f"[red]no[/red] {escape(r['detail'])}"
        ready = "[green]yes[/green]" if r["ready"] else (
            f"[red]no[/red] — needs training ({escape(train_command(r['name']))})")
        t.add_row(escape(r["name"]), r["family"], r["input_size"], params, escape(r["weights"]), avail, ready)
    import sys

    # piped or redirected: rich would assume 80 columns and wrap every cell; use a wide line instead
    console = Console(width=None if sys.stdout.isatty() else 260)
    console.print(t)
    if not all(r["ready"] for r in rows):
        console.print("ready to segment: no = built from its name the model gives meaningless masks (a CNN's "
                      "decoder is random; a skinsam-/melseg- model is not fine-tuned yet): train it, then use "
                      "--model RUN/best.pt.", soft_wrap=True)
