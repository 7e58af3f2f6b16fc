"""Model files: one format for every saved model (``dermaseg train``'s ``best.pt``/``last.pt``,
:func:`save_model`), read back by :func:`dermaseg.models.registry.create_model` given the file's path.

A model file is ``torch.save`` of a dict ``{"config": {...}, "state_dict": {...}, "extra": {...}}``:
``config`` rebuilds the architecture (``config["name"]`` is a registry name, the rest its keyword
arguments), ``state_dict`` holds the weights, ``extra`` free provenance (recipe, epoch, data). A training
checkpoint (``last.pt``) adds ``"training"`` (optimizer, scheduler, RNG states, history). Files are written
atomically and read with ``weights_only=True``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.io import atomic_path
from dermaseg.workspace.versions import current_model_path

__all__ = ["ModelFile", "save_model", "write_model_file", "read_model_file", "resolve_model_path",
           "RUN_MODEL_FILES"]

#: the model a run folder stands for, first present wins: a CV's refit, then the run's best, then its last
RUN_MODEL_FILES = ("final.pt", "best.pt", "last.pt")

#: suffixes that make a ``--model`` value a file path rather than a registry name
MODEL_FILE_SUFFIXES = (".pt", ".pth", ".safetensors")


@dataclass
class ModelFile:
    """The contents of a model file (see the module docstring)."""

    path: Path
    config: dict[str, Any]
    state_dict: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None


def write_model_file(path: str | os.PathLike, config: dict[str, Any], state_dict: dict[str, Any],
                     extra: dict[str, Any] | None = None, training: dict[str, Any] | None = None) -> None:
    """Write a model file atomically (``training``: the resumable state of a ``last.pt``)."""
    import torch

    blob: dict[str, Any] = {"config": dict(config), "state_dict": state_dict, "extra": dict(extra or {})}
    if training is not None:
        blob["training"] = training
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def save_model(model, path: str | os.PathLike, extra: dict[str, Any] | None = None) -> None:
    """Save ``model`` (its ``config`` and weights) so that ``create_model(path)`` loads it back."""
    write_model_file(path, model.config, model.state_dict(), extra)


def resolve_model_path(path: str | os.PathLike) -> Path | str:
    """The model file a ``--model`` path stands for: a file is itself; a run folder its ``final.pt``,
    ``best.pt`` or ``last.pt`` (:data:`RUN_MODEL_FILES`); a workspace (or its ``models/`` folder) its
    current version's ``model.pt``, or the string ``"default"`` while the bundled model is current
    (:mod:`dermaseg.models.versions`). Anything else is returned unchanged (reading it then says what
    is wrong)."""
    p = Path(path)
    if not p.is_dir():
        return p
    for name in RUN_MODEL_FILES:
        if (p / name).is_file():
            return p / name
    models = p / "models" if (p / "models").is_dir() else p
    if (models / "current.json").is_file() or (p / "workspace.sqlite").is_file():

        return current_model_path(models)
    if any(p.glob("fold_*/best.pt")):
        raise DermasegError(f"{p}: a cross-validation folder with no final.pt; give one fold's best.pt "
                            "(e.g. fold_0/best.pt) or refit with dermaseg train --final refit")
    raise DermasegError(f"{p}: a folder with no model in it (expected {', '.join(RUN_MODEL_FILES)}, or a "
                        "workspace's models/)")


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Read a model file (weights on the CPU); a missing file or another format -> DermasegError. A run
    folder or a workspace reads the model it stands for (:func:`resolve_model_path`)."""
    import torch

    target = resolve_model_path(path)
    if target == "default":
        raise DermasegError(f"{path}: its current model is the bundled one (use --model default)")
    p = Path(target)
    if not p.is_file():
        raise DermasegError(f"{p}: model file not found")
    if p.suffix.lower() == ".onnx" or (p.parent / "dermaseg_onnx.json").is_file():
        raise DermasegError(f"{p}: an ONNX export, not a dermaseg model file: run the model it was exported "
                            "from with --backend onnx (e.g. --model default --backend onnx)")
    try:
        with warnings.catch_warnings():  # torch's multi-line FutureWarning about pickles: our one line says it
            warnings.simplefilter("ignore")
            blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's unpickling errors run to several lines and carry terminal escapes
        if type(e).__name__ == "UnpicklingError":
            raise DermasegError(f"{p}: not a dermaseg model file (a pickled file with Python objects, such as "
                                "a legacy torch.save of a whole model: dermaseg loads only weights files it "
                                "can read safely; save the model with dermaseg train or "
                                "dermaseg.models.save_model)") from e
        first = re.sub(r"\x1b\[[0-9;]*m", "", (str(e).strip().splitlines() or [""])[0])
        raise DermasegError(f"{p}: not a dermaseg model file ({type(e).__name__}: {first})") from e
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise DermasegError(f"{p}: not a dermaseg model file (expected keys 'config' and 'state_dict')")
    if not isinstance(blob["config"], dict):
        raise DermasegError(f"{p}: not a dermaseg model file (its config is a {type(blob['config']).__name__}, "
                            "not a mapping)")
    config = dict(blob["config"])
    if not isinstance(config.get("name"), str) or not config["name"]:
        raise DermasegError(f"{p}: not a dermaseg model file (its config has no model name)")
    sd = blob["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                           for k, v in sd.items()):
        raise DermasegError(f"{p}: not a dermaseg model file (its state_dict is not a mapping of names to "
                            "tensors)")
    extra = blob.get("extra") or {}
    if not isinstance(extra, dict):
        raise DermasegError(f"{p}: not a dermaseg model file (its 'extra' is not a mapping)")
    return ModelFile(p, config, sd, dict(extra), blob.get("training"))
