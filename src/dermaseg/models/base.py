"""The two model contracts every network in dermaseg follows.

``CNNSegmenter`` (U-Net, FPN, the bundled automatic model): ``forward(x)`` maps a normalised batch
B×3×H×W (H×W = ``input_size``; ``mean``/``std`` on the 0..1 scale) to lesion logits B×1×H×W.

``PromptableSegmenter`` (the Segment-Anything family): ``preprocess`` turns one RGB uint8 image into
the encoder's square input (resize the longest side to ``image_size``, normalise, pad bottom-right),
``encode`` computes the image embedding once, ``decode`` maps an embedding plus prompts (coordinates in
the *model input* frame, i.e. original pixels × ``scale``) to low-resolution mask logits B×K×h×w and
predicted IoU B×K. The :class:`~dermaseg.inference.predictor.Predictor` does every coordinate transform
and the upsampling back to the input image's own size.

Every model carries ``config`` (a JSON-able dict with at least ``name``) so that a saved file
``{"config": ..., "state_dict": ...}`` rebuilds it through :func:`dermaseg.models.registry.create_model`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["CNNSegmenter", "PromptableSegmenter", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CNNSegmenter(nn.Module):
    """A promptless network: B×3×H×W normalised image -> B×1×H×W logits."""

    family = "cnn"

    def __init__(self, config: dict[str, Any], input_size: tuple[int, int],
                 mean: tuple[float, float, float] = IMAGENET_MEAN,
                 std: tuple[float, float, float] = IMAGENET_STD) -> None:
        super().__init__()
        self.config = dict(config)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class PromptableSegmenter(nn.Module):
    """A Segment-Anything-style network: encode an image once, decode many prompts."""

    family = "sam"
    #: longest side of the square encoder input, in pixels (1024 for SAM/MobileSAM, 256 for LiteMedSAM)
    image_size: int = 1024
    #: side of the low-resolution logits that ``decode`` returns (256 for every SAM family)
    low_res_size: int = 256

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = dict(config)

    def preprocess(self, rgb) -> tuple[torch.Tensor, float]:  # pragma: no cover - abstract
        """RGB uint8 H×W×3 -> (3×S×S float tensor, scale) where model coords = original coords × scale."""
        raise NotImplementedError

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """B×3×S×S -> image embedding (B×256×64×64 for every SAM family here)."""
        raise NotImplementedError

    def decode(self, embedding: torch.Tensor, boxes: torch.Tensor | None = None,
               points: torch.Tensor | None = None, labels: torch.Tensor | None = None,
               multimask: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        """Embedding B×C×h×w, boxes B×4, points B×N×2, labels B×N (model-input pixels) ->
        (low-res logits B×K×256×256, predicted IoU B×K); K = 3 with ``multimask`` else 1."""
        raise NotImplementedError
