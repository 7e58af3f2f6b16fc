"""Fine-tuning from a trained model: ``dermaseg train --init default|FILE`` and the ``finetune`` recipe.

``--init`` names the model a run starts from: ``default`` (the bundled model) or a saved dermaseg model
file (a run's ``best.pt``, a workspace version's ``model.pt``, or a run folder / workspace, resolved by
:func:`dermaseg.models.files.resolve_model_path`). The init model decides the architecture, the input
size, the normalisation and the post-processing (threshold, rule, automatic mode): :func:`apply_init`
copies them into the recipe, and a ``--model`` or ``--image-size`` that disagrees is a one-line error.
:func:`describe_init` is what config.json records under ``init`` (bundle name and sha256, or the file's
resolved path and sha256). :func:`build_init_model` loads the weights the trainer starts from.

The predicted-quality model of the init travels with the weights, marked ``"status": "inherited"``: it
was calibrated on the init model's errors, not the fine-tuned one's. The workspace loop
(:mod:`dermaseg.training.adapt`) re-checks it on held-out images and marks it ``re-checked`` or
``uncalibrated``.

``freeze="encoder"`` (:func:`freeze`) stops gradients into the encoder and keeps its BatchNorm layers in
eval mode (:func:`keep_frozen_eval`, called by the trainer after every ``model.train()``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.models.default import DEFAULT_SHA256, default_config
from dermaseg.models.files import read_model_file, resolve_model_path
from dermaseg.models.registry import create_model

__all__ = ["FREEZE_CHOICES", "resolve_init", "init_config", "describe_init", "apply_init", "build_init_model",
           "freeze", "keep_frozen_eval", "sha256_file"]

FREEZE_CHOICES = ("encoder",)
#: the keys of a model's config that a fine-tune inherits from its init (besides the architecture)
INHERITED = ("threshold", "postprocess_rule", "auto", "tta", "quality")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resolve_init(init: str) -> str:
    """``default`` or the resolved path (str) of the model file ``init`` names; else a DermasegError."""

    if init == "default":
        return "default"
    target = resolve_model_path(init)
    if target == "default":  # a workspace whose current model is still the bundled one
        return "default"
    if not Path(target).is_file():
        raise DermasegError(f"--init {init}: no such model file (give 'default' or a saved dermaseg model)")
    return str(Path(target).resolve())


def init_config(init: str) -> dict[str, Any]:
    """The architecture config (``name``, ``input_size``, ...) and pipeline keys of the init model."""

    if init == "default":

        cfg = default_config()
        arch = dict(cfg["model"])
        arch.update({k: cfg[k] for k in INHERITED if k in cfg})
        return arch
    f = read_model_file(init)
    if f.config.get("name") in (None, "") or "input_size" not in f.config:
        raise DermasegError(f"--init {init}: holds a {f.config.get('name')!r} model; --init needs a CNN "
                            "model file (unet-*/fpn-*)")
    return dict(f.config)


def describe_init(init: str) -> dict[str, Any]:
    """What config.json records under ``init``: ``{"bundle": "default", "sha256": ...}`` or
    ``{"file": PATH, "sha256": ...}``."""
    if init == "default":

        return {"bundle": "default", "sha256": DEFAULT_SHA256}
    return {"file": str(init), "sha256": sha256_file(init)}


def apply_init(recipe, init: str | None, model: str | None = None, image_size: int | None = None):
    """``recipe`` starting from ``init`` (module docstring); None keeps the recipe's own ``init``."""
    init = init if init is not None else recipe.init
    if init is None:
        return recipe
    resolved = resolve_init(init)
    cfg = init_config(resolved)
    name = str(cfg["name"])
    if model is not None and model != name and model != init:
        raise DermasegError(f"--model {model} does not match --init {init}, a '{name}' model (the "
                            "architecture comes from the init model: leave --model out)")
    if image_size is not None:
        raise DermasegError(f"--image-size with --init {init}: the input size comes from the init model "
                            f"({cfg['input_size'][0]}x{cfg['input_size'][1]})")
    if recipe.kind != "cnn":
        raise DermasegError(f"--init with recipe '{recipe.name}': --init fine-tunes a CNN (recipe finetune)")
    return recipe.override(init=resolved, model=name, input_size=tuple(cfg["input_size"]),
                           threshold=float(cfg.get("threshold", recipe.threshold)))


def build_init_model(recipe):
    """The init model with its trained weights, ready to train (provenance keys of the bundle dropped)."""

    model = create_model(recipe.init)
    for key in ("bundled", "source_file"):
        model.config.pop(key, None)
    q = model.config.get("quality")
    if isinstance(q, dict):
        model.config["quality"] = {**q, "status": "inherited"}
    return model


def freeze(model, what: str | None) -> None:
    """Stop gradients into ``what`` (``encoder``) of a CNN segmenter."""
    if what is None:
        return
    if what not in FREEZE_CHOICES:
        raise DermasegError(f"--freeze {what}: choose one of {', '.join(FREEZE_CHOICES)}")
    enc = getattr(getattr(model, "net", None), "encoder", None)
    if enc is None:
        raise DermasegError(f"--freeze encoder: model '{model.config.get('name')}' has no CNN encoder")
    for p in enc.parameters():
        p.requires_grad_(False)


def keep_frozen_eval(model, what: str | None) -> None:
    """After ``model.train()``: keep a frozen encoder in eval mode (its BatchNorm statistics stay)."""
    if what == "encoder":
        enc = getattr(getattr(model, "net", None), "encoder", None)
        if enc is not None:
            enc.eval()
