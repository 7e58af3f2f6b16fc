"""The CNN steps of the :class:`~dermaseg.inference.predictor.Predictor`: probability maps at each input's
own size, optionally averaged over flips (test-time augmentation)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dermaseg.data.transforms import resize_image

__all__ = ["cnn_input", "flip_tta", "cnn_probs"]


def cnn_input(model, rgbs: list[np.ndarray]) -> np.ndarray:
    """RGB uint8 H×W×3 images -> the model's batch B×3×h×w float32: each resized to ``model.input_size``
    (h, w) (:func:`~dermaseg.data.transforms.resize_image`), scaled to 0..1 and normalised with ``model.mean`` / ``model.std``."""
    mean = np.asarray(model.mean, np.float32)
    std = np.asarray(model.std, np.float32)
    batch = []
    for rgb in rgbs:
        r = resize_image(rgb, model.input_size)
        batch.append(((r.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
    return np.stack(batch)


def flip_tta(forward: Callable, x):
    """Probabilities B×1×h×w of ``forward`` (logits) on ``x`` B×3×h×w, averaged over identity,
    horizontal flip and vertical flip (each flipped back)."""
    import torch

    prob = torch.sigmoid(forward(x).float())
    prob = prob + torch.sigmoid(forward(x.flip(-1)).float()).flip(-1)
    return (prob + torch.sigmoid(forward(x.flip(-2)).float()).flip(-2)) / 3.0


def cnn_probs(model, rgbs: list[np.ndarray], device, tta: bool = False,
              forward: Callable | None = None) -> list[np.ndarray]:
    """Probability maps float32 H×W in [0, 1], one per image at its own size: :func:`cnn_input`,
    sigmoid of the logits (:func:`flip_tta` when ``tta``), bilinear resize back to H×W.

    ``forward``: the network call, normalised batch B×3×h×w -> logits B×1×h×w (default ``model``
    itself; the Predictor passes its backend's, e.g. onnxruntime's)."""
    import torch
    import torch.nn.functional as F

    forward = model if forward is None else forward
    out = []
    with torch.inference_mode():
        x = torch.from_numpy(cnn_input(model, rgbs)).to(device)
        prob = flip_tta(forward, x) if tta else torch.sigmoid(forward(x).float())
        for i, rgb in enumerate(rgbs):
            p = prob[i:i + 1]
            if tuple(p.shape[-2:]) != rgb.shape[:2]:
                p = F.interpolate(p, size=rgb.shape[:2], mode="bilinear", align_corners=False)
            out.append(p[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32))
    return out
