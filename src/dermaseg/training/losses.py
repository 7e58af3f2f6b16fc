"""Segmentation losses for one-channel logits B×1×H×W against masks B×1×H×W in {0, 1}.

All but BCE are MONAI's definitions, as melSeg (seed 000) used them:

- ``bce``: ``torch.nn.BCEWithLogitsLoss`` (mean over pixels), the U-Net paper's (seed 002) loss.
- ``dice``: ``monai.losses.DiceLoss(sigmoid=True)``: per image 1 - (2·Σpt + 1e-5) / (Σp + Σt + 1e-5), p = σ(logit),
  then the mean over the batch; the FPN paper's (seed 003) loss.
- ``dicece``: ``monai.losses.DiceCELoss(sigmoid=True)`` = Dice (above) + BCE, unweighted (SkinSAM, melSeg).
- ``focal``: ``monai.losses.FocalLoss()`` (sigmoid, γ = 2, no α): mean of -(1 - p_t)^γ log p_t (melSeg).
"""

from __future__ import annotations

from dermaseg.errors import DermasegError

__all__ = ["LOSSES", "build_loss"]

LOSSES = ("bce", "dice", "dicece", "focal")


def build_loss(name: str):
    """The loss module for ``name`` in :data:`LOSSES`: ``loss(logits B×1×H×W, target B×1×H×W float) -> scalar``."""
    import torch

    key = name.lower().replace("_", "").replace("+", "")
    if key == "bce":
        return torch.nn.BCEWithLogitsLoss()
    from monai.losses import DiceCELoss, DiceLoss, FocalLoss

    if key == "dice":
        return DiceLoss(sigmoid=True)
    if key == "dicece":
        return DiceCELoss(sigmoid=True)
    if key == "focal":
        return FocalLoss(use_softmax=False, gamma=2.0)
    raise DermasegError(f"unknown loss '{name}'; choose one of {', '.join(LOSSES)}")
