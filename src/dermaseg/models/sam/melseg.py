"""melSeg (seed 000): a Feature Pyramid Network over a SAM image encoder, fine-tuned end to end.

The paper says only that SAM was "enhanced by the incorporation of a feature pyramid network (FPN) to
capture lesion features at multiple scales during fine-tuning". Our interpretation, made explicit:

1. **Where the pyramid comes from.** The image encoder's intermediate stage outputs, captured with
   forward hooks while the encoder runs unchanged:
   - TinyViT encoders (LiteMedSAM, MobileSAM): the output of each of the 4 stages,
     128×128×128, 160×64×64, 320×64×64, 320×64×64 (C×H×W; the same grids for LiteMedSAM's 256 input
     and MobileSAM's 1024 input).
   - ViT encoders (SAM ViT-b/l/h): the outputs of the 4 global-attention blocks (all 64×64×C).
2. **Top-down pathway** (Lin et al.'s FPN): a 1×1 lateral conv brings every stage to 256 channels; from
   the deepest stage down, the running map is upsampled (nearest) to the next stage's size and added
   to its lateral; each level is then smoothed by 3×3 conv + GroupNorm + GELU.
3. **Fusion into the embedding the mask decoder expects.** Every level is resized (bilinear) to 64×64
   and summed; a 1×1 conv whose weights start at **zero** maps the sum to 256 channels, and the result
   is **added** to the encoder's own neck output (256×64×64). At initialisation the model is therefore
   exactly the pretrained SAM; fine-tuning learns how much multi-scale detail to mix in.
4. **Training**: every parameter (encoder, FPN, prompt encoder, mask decoder) is trained, with a box
   prompt simulated from the truth each step (SkinSAM's jitter), Dice+CE, Adam 1e-4, batch 4 (melSeg's
   best row of Table I); see the ``melseg`` recipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dermaseg.models.sam.common import SamFamilySegmenter

__all__ = ["SamFPN", "MelSegSegmenter", "encoder_stages"]


def encoder_stages(encoder: nn.Module) -> tuple[list[nn.Module], list[int], str]:
    """(modules whose outputs form the pyramid, their channel counts, layout) for a SAM image encoder.

    layout ``"tokens"``: outputs are B×N×C (TinyViT stages); ``"nhwc"``: B×H×W×C (ViT blocks).
    """
    if hasattr(encoder, "layers"):  # TinyViT
        layers = list(encoder.layers)
        chans = [int(layers[i + 1].dim) for i in range(len(layers) - 1)] + [int(layers[-1].dim)]
        return layers, chans, "tokens"
    if hasattr(encoder, "blocks"):  # segment_anything ImageEncoderViT
        blocks = list(encoder.blocks)
        idx = [i for i, b in enumerate(blocks) if getattr(b, "window_size", 1) == 0]
        if len(idx) < 2:
            n = len(blocks)
            idx = sorted({max(0, round(n * k / 4) - 1) for k in (1, 2, 3, 4)})
        dim = int(encoder.pos_embed.shape[-1]) if getattr(encoder, "pos_embed", None) is not None else int(
            blocks[0].attn.qkv.in_features)
        return [blocks[i] for i in idx], [dim] * len(idx), "nhwc"
    raise TypeError(f"melSeg: unsupported image encoder {type(encoder).__name__}")


def _to_nchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "nhwc":
        return x.permute(0, 3, 1, 2)
    b, n, c = x.shape
    s = math.isqrt(n)
    if s * s != n:
        raise ValueError(f"melSeg: stage output has {n} tokens, not a square grid")
    return x.transpose(1, 2).reshape(b, c, s, s)


class SamFPN(nn.Module):
    """Top-down FPN over L stage maps (shallow -> deep) fused into a 256×64×64 embedding (docstring)."""

    def __init__(self, in_channels: Sequence[int], out_channels: int = 256, size: int = 64) -> None:
        super().__init__()
        self.size = int(size)
        self.lateral = nn.ModuleList(nn.Conv2d(int(c), out_channels, 1) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Sequential(nn.Conv2d(out_channels, out_channels, 3, padding=1),
                          nn.GroupNorm(32, out_channels), nn.GELU())
            for _ in in_channels)
        self.fuse = nn.Conv2d(out_channels, out_channels, 1)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, feats: Sequence[torch.Tensor], embedding: torch.Tensor) -> torch.Tensor:
        """feats: L maps B×C_i×H_i×W_i (shallow first); embedding B×256×64×64 -> B×256×64×64."""
        lat = [conv(f) for conv, f in zip(self.lateral, feats, strict=True)]
        p = lat[-1]
        total = None
        for i in range(len(lat) - 1, -1, -1):
            if i < len(lat) - 1:
                p = lat[i] + F.interpolate(p, size=lat[i].shape[-2:], mode="nearest")
            level = self.smooth[i](p)
            if level.shape[-2:] != embedding.shape[-2:]:
                level = F.interpolate(level, size=embedding.shape[-2:], mode="bilinear", align_corners=False)
            total = level if total is None else total + level
        return embedding + self.fuse(total)


class MelSegSegmenter(SamFamilySegmenter):
    """A SAM-family model whose ``encode`` adds the FPN's multi-scale features to the embedding."""

    def __init__(self, base: SamFamilySegmenter, config: dict) -> None:
        super().__init__(config, base.image_encoder, base.prompt_encoder, base.mask_decoder,
                         image_size=base.image_size, normalization=base.normalization,
                         multimask_default=base.multimask_default, batched_decoder=base.batched_decoder)
        stages, chans, self._layout = encoder_stages(self.image_encoder)
        self.fpn = SamFPN(chans)
        self._feats: list[torch.Tensor] | None = None
        for m in stages:
            m.register_forward_hook(self._capture)

    def _capture(self, module, inputs, output) -> None:
        if self._feats is not None:
            self._feats.append(output)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """B×3×S×S -> B×256×64×64: the encoder's embedding plus the fused FPN features."""
        self._feats = []
        try:
            embedding = self.image_encoder(x)
            feats = [_to_nchw(f, self._layout) for f in self._feats]
        finally:
            self._feats = None
        return self.fpn(feats, embedding)
