"""CNN steps: the probability map at the input's own size, flip TTA, and the mask the Predictor makes of it."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dermaseg.data.synthetic import make_image
from dermaseg.inference import cnn_steps
from dermaseg.inference.postprocess import clean_mask
from dermaseg.inference.predictor import Predictor
from dermaseg.models.base import CNNSegmenter

CPU = torch.device("cpu")


class _Ramp(CNNSegmenter):
    """The dark-blob CNN plus a left-to-right and top-to-bottom ramp: not flip-invariant, so TTA matters."""

    def __init__(self, dark):
        super().__init__({"name": "ramp"}, dark.input_size, dark.mean, dark.std)
        self.dark = dark

    def forward(self, x):
        h, w = x.shape[-2:]
        ramp = torch.linspace(-2, 2, w).view(1, 1, 1, w) + torch.linspace(-1, 1, h).view(1, 1, h, 1)
        return self.dark(x) + ramp


def test_flip_tta_is_the_mean_of_three_flips(dark_cnn):
    cnn = _Ramp(dark_cnn)
    rgb, _ = make_image(100, 140, seed=2)
    flips = [rgb, rgb[:, ::-1], rgb[::-1]]
    probs = [cnn_steps.cnn_probs(cnn, [np.ascontiguousarray(f)], CPU)[0] for f in flips]
    manual = (probs[0] + probs[1][:, ::-1] + probs[2][::-1]) / 3
    tta = cnn_steps.cnn_probs(cnn, [rgb], CPU, tta=True)[0]
    assert np.allclose(tta, manual, atol=1e-5)
    assert np.abs(tta - probs[0]).max() > 0.1  # the flips do change this CNN's map


class _LeftHalf(CNNSegmenter):
    """Logit +8 on the left half of its 32×32 input, -8 on the right: a known map."""

    def __init__(self):
        super().__init__({"name": "left"}, (32, 32), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        out = torch.full((x.shape[0], 1, 32, 32), -8.0) + self.dummy
        out[..., :16] = 8.0
        return out


def test_probabilities_come_back_at_the_input_size_unflipped():
    rgb = np.zeros((48, 80, 3), np.uint8)
    (prob,) = cnn_steps.cnn_probs(_LeftHalf(), [rgb], CPU)
    assert prob.shape == (48, 80) and prob.dtype == np.float32
    s = 1 / (1 + np.exp(-8.0))
    assert np.allclose(prob[:, :38], s, atol=1e-6) and np.allclose(prob[:, 42:], 1 - s, atol=1e-6)
    assert np.all(np.diff(prob[0]) <= 1e-7)  # left to right it only falls: not mirrored
    x = cnn_steps.cnn_input(_LeftHalf(), [rgb, np.full((20, 20, 3), 255, np.uint8)])
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32 and x[0].max() == 0.0 and x[1].min() == 1.0


def test_the_mask_is_the_thresholded_probability_map(dark_cnn):
    rgb, _ = make_image(100, 140, seed=4)
    (prob,) = cnn_steps.cnn_probs(dark_cnn, [rgb], CPU)
    for threshold in (0.3, 0.5, 0.7):
        raw = Predictor(dark_cnn, device="cpu", postprocess=False, threshold=threshold)
        raw.set_image(rgb)
        p = raw.predict()
        assert np.array_equal(p.prob, prob) and np.array_equal(p.mask, prob > threshold)
        clean = Predictor(dark_cnn, device="cpu", postprocess=True, threshold=threshold)
        clean.set_image(rgb)
        assert np.array_equal(clean.predict().mask, clean_mask(prob > threshold))
    assert 0 < (prob > 0.5).sum() < prob.size  # a real, partial lesion: the comparison can fail
