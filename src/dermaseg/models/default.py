"""The bundled automatic model (``create_model("default")``), shipped inside the package.

``dermaseg/assets/default_model/`` holds ``config.json`` (the registry name and keyword arguments of the
architecture, plus the threshold and training provenance), ``model.safetensors`` (fp16 weights) and
``MODEL_CARD.md``. The weights' sha256 is pinned here and verified before loading, like every other
weight source; nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dermaseg.errors import WeightsError
from dermaseg.models.registry import ModelInfo, create_model, register_model
from dermaseg.models.weights import verify_file

__all__ = ["ASSET_DIR", "DEFAULT_SHA256", "load_default_model", "default_config"]

ASSET_DIR = Path(__file__).resolve().parents[1] / "assets" / "default_model"
#: sha256 of assets/default_model/model.safetensors (checked before every load)
DEFAULT_SHA256 = "fa7f8ebbdbe9f94289f88fd40b23ade7191148fecef2d90b0b6fb804d2b1f244"


def default_config() -> dict[str, Any]:
    """The bundled model's config.json as a dict."""
    p = ASSET_DIR / "config.json"
    if not p.is_file():
        raise WeightsError(f"{p}: the bundled default model is missing from this installation")
    return json.loads(p.read_text(encoding="utf-8"))


def load_default_model(name: str = "default", **kwargs: Any):
    """Build the bundled CNN and load its verified fp16 weights (cast to fp32). Returns a CNNSegmenter."""
    import torch
    from safetensors.torch import load_file

    cfg = default_config()
    weights = verify_file(ASSET_DIR / "model.safetensors", DEFAULT_SHA256, what="bundled default model")
    arch = dict(cfg["model"])
    arch_name = arch.pop("name")
    arch["pretrained"] = False
    arch.update({k: v for k, v in kwargs.items() if k != "pretrained"})
    model = create_model(arch_name, **arch)
    sd = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    model.load_state_dict(sd)
    model.config["bundled"] = "default"
    if "threshold" in cfg:  # a config without one gets the Predictor's default (inference/postprocess.py)
        model.config["threshold"] = float(cfg["threshold"])
    for key in ("auto", "tta", "postprocess_rule", "quality"):  # the pipeline (see MODEL_CARD.md)
        if key in cfg:
            model.config[key] = cfg[key]
    return model.eval()


def _weights_status() -> tuple[str, bool, str]:
    p = ASSET_DIR / "model.safetensors"
    return ("bundled with dermaseg", p.is_file(), "" if p.is_file() else "(missing from this install)")


def _param_count() -> int | None:
    """Parameters of the bundled weights, read from the safetensors header (no torch import)."""
    import math
    import struct

    try:
        with open(ASSET_DIR / "model.safetensors", "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
    except (OSError, ValueError, struct.error):
        return None
    return sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__"
               and not k.endswith(("num_batches_tracked", "running_mean", "running_var")))


def _input_size() -> str:
    try:
        h, w = default_config()["model"].get("input_size", ["?", "?"])
        return f"{h}x{w}"
    except Exception:
        return "?"


register_model(ModelInfo(
    name="default",
    builder=load_default_model,
    family="cnn",
    input_size=_input_size(),
    description="bundled automatic lesion segmenter trained on ISIC 2017 (no prompt needed)",
    weights=_weights_status,
    params=_param_count(),
))
