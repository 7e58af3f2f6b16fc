"""Tiny models for the export tests: smp's ``fpn-tiny`` and a SAM-family model with segment-anything's
prompt encoder and mask decoder at width 32 on a 64×64 frame, with random (not identity) weights; and a
private graph cache per test (``DERMASEG_CACHE``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dermaseg.data.synthetic import make_image
from dermaseg.models.registry import create_model
from dermaseg.models.sam.common import SamFamilySegmenter


class TinyEncoder(nn.Module):
    """B×3×64×64 -> B×32×16×16: a 4×4 patch convolution, then a per-token MLP (MatMul, which --int8
    quantises), as ViT encoders are built."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.mlp = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).permute(0, 2, 3, 1)
        return self.mlp(t).permute(0, 3, 1, 2)


def tiny_sam(seed: int = 0, multimask: bool = True, normalization: str = "sam") -> SamFamilySegmenter:
    from segment_anything.modeling import MaskDecoder, PromptEncoder, TwoWayTransformer

    torch.manual_seed(seed)
    pe = PromptEncoder(embed_dim=32, image_embedding_size=(16, 16), input_image_size=(64, 64), mask_in_chans=4)
    dec = MaskDecoder(num_multimask_outputs=3, transformer=TwoWayTransformer(depth=1, embedding_dim=32, mlp_dim=64,
                                                                             num_heads=2),
                      transformer_dim=32, iou_head_depth=2, iou_head_hidden_dim=32)
    m = SamFamilySegmenter({"name": "tiny-sam"}, TinyEncoder(), pe, dec, image_size=64, normalization=normalization,
                           multimask_default=multimask)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # no zero / identity initialisation left to hide a wrong graph
        for p in m.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return m.eval()


def tiny_cnn(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("fpn-tiny", input_size=[64, 96]).eval()


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("DERMASEG_CACHE", str(d))
    return d / "onnx"


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    """Synthetic lesions at several sizes and aspect ratios."""
    return [make_image(h, w, seed=s)[0] for s, (h, w) in enumerate([(72, 96), (96, 64), (130, 170), (64, 64)])]
