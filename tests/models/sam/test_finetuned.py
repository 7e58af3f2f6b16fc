"""skinsam-/melseg- models: built on a pretrained SAM model, SkinSAM's frozen encoder."""

from __future__ import annotations

import pytest
import torch

from dermaseg.models.registry import create_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def test_skinsam_freezes_the_image_encoder_only():
    model = create_model("skinsam-litemedsam", pretrained=False)
    assert model.config["name"] == "skinsam-litemedsam" and model.config["base"] == "litemedsam"
    assert not any(p.requires_grad for p in model.image_encoder.parameters())
    assert all(p.requires_grad for p in model.mask_decoder.parameters())
    emb = torch.randn(2, 256, 64, 64)
    logits, _ = model.decode(emb, boxes=torch.tensor([[10.0, 10, 100, 100], [5, 5, 50, 60]]), multimask=False)
    logits.sum().backward()
    assert model.prompt_encoder.point_embeddings[2].weight.grad is not None  # box corner embedding
