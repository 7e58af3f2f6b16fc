"""The part every Segment-Anything family shares: preprocessing, encode, decode.

:class:`SamFamilySegmenter` wraps the three upstream modules (``image_encoder``, ``prompt_encoder``,
``mask_decoder``) under their upstream attribute names, so an upstream checkpoint's state dict loads
unchanged and a fine-tuned dermaseg model saves with the same keys.

Preprocessing (``preprocess``), per family:

- ``"sam"`` (SAM ViT-b/l/h, MobileSAM): resize the longest side to ``image_size`` (1024), normalise
  with the ImageNet mean/std on the 0..255 scale, pad bottom-right with zeros to S×S.
- ``"minmax"`` (LiteMedSAM, as the MedSAM authors' ``CVPR24_LiteMedSAM_infer.py``): resize the longest
  side to 256 (area interpolation), min-max normalise the whole resized image to [0, 1], pad
  bottom-right with zeros to 256×256.

In both, a pixel coordinate in the input image maps to the model frame as ``x * scale`` with
``scale = image_size / max(H, W)`` (the ``+0.5`` pixel-centre shift is applied by the prompt encoder).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch import nn

from dermaseg.data.transforms import resize_image
from dermaseg.models.base import PromptableSegmenter

__all__ = ["SamFamilySegmenter", "SAM_PIXEL_MEAN", "SAM_PIXEL_STD", "resize_longest", "quiet_imports"]

SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)


class quiet_imports(warnings.catch_warnings):
    """Silence the deprecation warnings timm prints when the upstream TinyViT modules are imported."""

    def __enter__(self):
        out = super().__enter__()
        warnings.simplefilter("ignore")
        return out


def resize_longest(rgb: np.ndarray, target: int) -> tuple[np.ndarray, float]:
    """Resize H×W×3 uint8 so that its longest side is ``target`` -> (resized h×w×3, scale).

    New size is ``round(H * scale)`` × ``round(W * scale)`` with ``scale = target / max(H, W)``, resized by
    the one resize rule (:func:`dermaseg.data.transforms.resize_image`: area when shrinking, else bilinear).
    """
    h, w = rgb.shape[:2]
    scale = float(target) / max(h, w)
    nh, nw = max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))
    return resize_image(rgb, (nh, nw)), scale


class SamFamilySegmenter(PromptableSegmenter):
    """A Segment-Anything-family network behind the :class:`PromptableSegmenter` contract.

    Args:
        config: JSON-able dict with at least ``name`` (the registry name).
        image_encoder: B×3×S×S -> B×256×64×64.
        prompt_encoder, mask_decoder: the upstream SAM modules (any of the three packages).
        image_size: S, the side of the square encoder input.
        normalization: ``"sam"`` or ``"minmax"`` (module docstring).
        multimask_default: whether ``Predictor.predict(multimask=None)`` asks for 3 candidates.
        batched_decoder: True when ``mask_decoder`` pairs B embeddings with B prompts itself
            (MedSAM's decoder); upstream SAM's decoder repeats each embedding per prompt instead.
    """

    def __init__(self, config: dict[str, Any], image_encoder: nn.Module, prompt_encoder: nn.Module,
                 mask_decoder: nn.Module, image_size: int, normalization: str = "sam",
                 multimask_default: bool = True, batched_decoder: bool = False) -> None:
        super().__init__(config)
        if normalization not in ("sam", "minmax"):
            raise ValueError(f"unknown normalization {normalization!r}")
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.image_size = int(image_size)
        self.normalization = normalization
        self.multimask_default = bool(multimask_default)
        self.batched_decoder = bool(batched_decoder)
        mean = torch.tensor(SAM_PIXEL_MEAN).view(3, 1, 1)
        std = torch.tensor(SAM_PIXEL_STD).view(3, 1, 1)
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)

    # ---------------------------------------------------------------- preprocessing
    def preprocess(self, rgb: np.ndarray) -> tuple[torch.Tensor, float]:
        """RGB uint8 H×W×3 -> (3×S×S float32 tensor on the model's device, scale): :func:`resize_longest`,
        then :meth:`normalise`."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected an H×W×3 RGB image, got shape {rgb.shape}")
        resized, scale = resize_longest(np.ascontiguousarray(rgb, dtype=np.uint8), self.image_size)
        return self.normalise(resized), scale

    def normalise(self, resized: np.ndarray, device=None) -> torch.Tensor:
        """An image already resized to longest side S (uint8 h×w×3) -> 3×S×S float32, normalised as the
        family does (module docstring) and zero-padded bottom-right; on ``device`` (default: the model's)."""
        device = self.pixel_mean.device if device is None else torch.device(device)
        x = torch.from_numpy(np.ascontiguousarray(resized.transpose(2, 0, 1))).to(device, torch.float32)
        if self.normalization == "minmax":
            lo, hi = x.min(), x.max()
            x = (x - lo) / torch.clamp(hi - lo, min=1e-8)
        else:
            x = (x - self.pixel_mean.to(device)) / self.pixel_std.to(device)
        h, w = x.shape[1:]
        s = self.image_size
        out = torch.zeros((3, s, s), dtype=torch.float32, device=device)
        out[:, :h, :w] = x
        return out

    # ---------------------------------------------------------------- networks
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """B×3×S×S preprocessed images -> B×256×64×64 image embeddings."""
        return self.image_encoder(x)

    def prompt_embeddings(self, boxes, points, labels, batch: int, masks=None):
        """Prompts (model-input pixels, each may be None) -> (sparse B×N×256, dense B×256×64×64).
        ``masks``: B×1×256×256 low-resolution logits fed back as SAM's mask prompt (or None)."""
        pts = None
        if points is not None:
            if labels is None:
                labels = torch.ones(points.shape[:2], dtype=torch.int64, device=points.device)
            pts = (points.float(), labels)
        box = boxes.float().reshape(-1, 1, 4) if boxes is not None else None
        sparse, dense = self.prompt_encoder(points=pts, boxes=box, masks=masks)
        if sparse.shape[0] != batch:  # no prompt at all: the encoder returns batch 1
            sparse = sparse.expand(batch, -1, -1)
            dense = dense.expand(batch, -1, -1, -1)
        return sparse, dense

    def decode(self, embedding: torch.Tensor, boxes: torch.Tensor | None = None,
               points: torch.Tensor | None = None, labels: torch.Tensor | None = None,
               multimask: bool = True, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Embedding B×256×64×64 with per-image prompts (boxes B×4, points B×N×2, labels B×N, all in
        model-input pixels; ``masks`` B×1×256×256 the previous low-res logits, SAM's mask prompt; every
        argument may be None) -> (low-res logits B×K×256×256, IoU B×K), K = 3 with ``multimask`` else 1.
        Differentiable in the prompt encoder and mask decoder."""
        b = embedding.shape[0]
        for name, t in (("boxes", boxes), ("points", points), ("labels", labels), ("masks", masks)):
            if t is not None and t.shape[0] != b:
                raise ValueError(f"{name} has batch {t.shape[0]}, embedding has {b}")
        pe = self.prompt_encoder.get_dense_pe()
        if b == 1 or self.batched_decoder:
            sparse, dense = self.prompt_embeddings(boxes, points, labels, b, masks)
            return self.mask_decoder(image_embeddings=embedding, image_pe=pe,
                                     sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                     multimask_output=multimask)
        logits, ious = [], []
        for i in range(b):
            sl = slice(i, i + 1)
            lg, iou = self.decode(embedding[sl], None if boxes is None else boxes[sl],
                                  None if points is None else points[sl],
                                  None if labels is None else labels[sl], multimask,
                                  None if masks is None else masks[sl])
            logits.append(lg)
            ious.append(iou)
        return torch.cat(logits), torch.cat(ious)

    def trainable_decoder_parameters(self):
        """Parameters of the prompt encoder and mask decoder (SkinSAM fine-tunes only these)."""
        return list(self.prompt_encoder.parameters()) + list(self.mask_decoder.parameters())

    def freeze_encoder(self) -> None:
        """Freeze the image encoder (SkinSAM decoder fine-tuning trains only the decoder side)."""
        for p in self.image_encoder.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor, boxes: torch.Tensor | None = None,
                points: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                multimask: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """encode + decode: B×3×S×S and prompts -> (B×K×256×256 logits, B×K IoU)."""
        return self.decode(self.encode(x), boxes, points, labels, multimask)
