"""Fine-tuned SAM-family models: ``skinsam-<sam model>`` and ``melseg-<sam model>``.

- ``skinsam-<base>`` (seed 001): the base model (``litemedsam``, ``mobilesam``, ``sam-vit-b``...) with its
  image encoder frozen; training updates the prompt encoder and mask decoder only
  (:mod:`dermaseg.training.sam_tasks` caches the frozen encoder's embeddings on disk).
- ``melseg-<base>`` (seed 000): the base model with an FPN over its encoder's stages
  (:mod:`dermaseg.models.sam.melseg`), trained end to end.

Both are :class:`~dermaseg.models.sam.common.SamFamilySegmenter` s, so the Predictor, ``dermaseg segment`` and
``dermaseg evaluate --prompt box`` use them like any SAM model. A trained file saved by the trainer holds
``{"config": {"name": "skinsam-litemedsam", "base": "litemedsam", ...}, "state_dict": ...}`` and
``create_model(path)`` rebuilds it with no other argument (the base is built without its weights).
"""

from __future__ import annotations

from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.models.registry import ModelInfo, create_model, model_family, model_info, register_model
from dermaseg.models.sam.melseg import MelSegSegmenter

__all__ = ["build_finetuned"]

_KINDS = ("skinsam", "melseg")


def build_finetuned(name: str, pretrained: bool = True, checkpoint: str | None = None, **meta: Any):
    """Build ``skinsam-<base>`` / ``melseg-<base>``; ``pretrained`` loads the base model's weights."""
    kind, _, base = name.partition("-")
    if kind not in _KINDS or not base:
        raise DermasegError(f"unknown model '{name}': expected skinsam-<sam model> or melseg-<sam model>")
    kw: dict[str, Any] = {"pretrained": pretrained}
    if checkpoint is not None:
        kw["checkpoint"] = checkpoint
    if model_family(base) != "sam" or model_info(base).task is not None:
        raise DermasegError(f"model '{name}': '{base}' is not a pretrained SAM-family model (try litemedsam, "
                            "mobilesam, sam-vit-b)")
    model = create_model(base, **kw)
    config = {"name": name, "base": base}
    if "weights" in model.config:
        config["weights"] = model.config["weights"]
    if kind == "skinsam":
        model.config = config
        model.freeze_encoder()
        return model
    return MelSegSegmenter(model, config).eval()


for _kind, _desc in (("skinsam", "SkinSAM fine-tuning: frozen encoder, trained prompt encoder + mask decoder"),
                     ("melseg", "melSeg: FPN over the SAM encoder's stages, fine-tuned end to end")):
    register_model(ModelInfo(
        name=f"{_kind}-", builder=build_finetuned, family="sam", task=_kind, input_size="as its SAM model",
        description=f"{_desc} (<sam model> = litemedsam, mobilesam, sam-vit-b/l/h)", pattern=True,
        weights=lambda: ("its SAM model's, then yours (trained file)", True, ""),
        extra={"placeholder": "<sam model>"},
        untrained=f"built from its name it is its SAM model before {_kind}'s fine-tuning"))
