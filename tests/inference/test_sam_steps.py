"""SAM steps: the frame maps and the logits' way back to the input, on non-square images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.prompts import mask_bbox
from dermaseg.inference import sam_steps


@pytest.mark.parametrize("hw", [(90, 300), (301, 77)])
def test_box_roundtrip_and_logits_geometry(hw):
    """A box in input pixels -> model frame -> back is exact, and logits painted on the model-frame box
    come back as that box at the input's own size (crop of the padding, then resize)."""
    h, w = hw
    s = 256
    scale = s / max(h, w)
    box = np.array([13.0, 7.0, w * 0.6, h * 0.8])
    mb = sam_steps.to_model_frame(box, scale)
    assert np.array_equal(sam_steps.to_input_frame(mb, scale), box) or np.allclose(
        sam_steps.to_input_frame(mb, scale), box, rtol=0, atol=1e-12)
    emb = sam_steps.Embedding(None, (h, w), scale, (int(h * scale + 0.5), int(w * scale + 0.5)))
    logits = torch.full((1, 1, 256, 256), -20.0)
    x0, y0, x1, y1 = mb
    logits[..., int(np.ceil(y0)):int(np.floor(y1)) + 1, int(np.ceil(x0)):int(np.floor(x1)) + 1] = 20.0
    out = sam_steps.logits_to_input(logits, emb, s).numpy() > 0
    assert out.shape == (h, w)
    got = np.array(mask_bbox(out))
    assert np.abs(got - box).max() <= 1.0 / scale + 1.0
    # nothing leaks in from the padded region
    assert not out[:, int(box[2]) + int(2 / scale) + 2:].any() and not out[int(box[3]) + int(2 / scale) + 2:].any()
