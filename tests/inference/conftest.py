"""A fixed, real CNN for the inference tests (no weights, no training: its output is known)."""

from __future__ import annotations

import pytest
from torch import nn

from dermaseg.models.base import CNNSegmenter


class DarkCNN(CNNSegmenter):
    """Lesion logit = 12 × (0.45 − local brightness), at 64×96: dark blobs are lesions."""

    def __init__(self):
        super().__init__({"name": "dark"}, (64, 96), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.blur = nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=False)

    def forward(self, x):
        return 12.0 * (0.45 - self.blur(x.mean(1, keepdim=True)))


@pytest.fixture()
def dark_cnn() -> DarkCNN:
    return DarkCNN()
