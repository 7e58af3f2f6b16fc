"""The four losses against values computed by hand on a 2x2 example.

logits [[0, ln 3], [-ln 3, 0]] -> p = [[0.5, 0.75], [0.25, 0.5]]; target [[1, 1], [0, 1]].
So p_t (the probability of the true class) is 0.5, 0.75, 0.75, 0.5 for the four pixels.
"""

from __future__ import annotations

import math

import pytest
import torch

from dermaseg.errors import DermasegError
from dermaseg.training.losses import LOSSES, build_loss

LN3 = math.log(3.0)
LOGITS = torch.tensor([[[[0.0, LN3], [-LN3, 0.0]]]])
TARGET = torch.tensor([[[[1.0, 1.0], [0.0, 1.0]]]])

BCE = (2 * math.log(2) + 2 * math.log(4 / 3)) / 4
# Σ p·t = 0.5 + 0.75 + 0.5 = 1.75, Σ p = 2.0, Σ t = 3 ; MONAI smooths both sides with 1e-5
DICE = 1 - (2 * 1.75 + 1e-5) / (2.0 + 3.0 + 1e-5)
# -(1 - p_t)^2 log p_t, averaged over the 4 pixels
FOCAL = (2 * 0.25 * math.log(2) + 2 * 0.0625 * math.log(4 / 3)) / 4


@pytest.mark.parametrize("name,expected", [("bce", BCE), ("dice", DICE), ("dicece", DICE + BCE),
                                           ("focal", FOCAL)])
def test_loss_matches_hand_computation(name, expected):
    loss = build_loss(name)(LOGITS, TARGET)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_perfect_prediction_scores_near_zero_and_gradients_flow():
    for name in LOSSES:
        logits = (TARGET * 2 - 1) * 20
        assert build_loss(name)(logits, TARGET).item() < 1e-3
        x = LOGITS.clone().requires_grad_(True)
        build_loss(name)(x, TARGET).backward()
        # the pixel predicted 0.25 lesion on background, and the 0.5 ones on lesion, are pushed the right way
        assert x.grad[0, 0, 1, 0] > 0 and x.grad[0, 0, 0, 0] < 0


def test_unknown_loss_is_an_error():
    with pytest.raises(DermasegError, match="unknown loss"):
        build_loss("hinge")
