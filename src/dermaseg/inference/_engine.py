"""Tensor-level steps behind :class:`~dermaseg.inference.predictor.Predictor` (kept apart so that file
stays readable): image checks, SAM embedding and decoding with the coordinate transforms, CNN
probability maps with optional flip TTA. All functions run under ``torch.inference_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermaseg.errors import DermasegError

__all__ = [
    "Embedding",
    "check_rgb",
    "to_model_frame",
    "to_input_frame",
    "normalise_prompt",
    "sam_embed",
    "sam_decode",
    "logits_to_input",
    "cnn_probs",
]


@dataclass
class Embedding:
    """A cached SAM-family image embedding (1×256×64×64) with the geometry needed to undo it.

    ``size`` (H, W) of the input image; ``scale`` = S / max(H, W); ``resized`` (h, w) of the image
    inside the padded S×S model frame; ``prepared`` the decoder's prompt-independent state
    (:func:`dermaseg.models.sam.fast_inference.prepare`), or None when the decoder is not upstream SAM's.
    """

    tensor: object
    size: tuple[int, int]
    scale: float
    resized: tuple[int, int]
    prepared: object = None


def check_rgb(rgb) -> np.ndarray:
    """Validate an RGB uint8 H×W×3 array (gray H×W is expanded); returns it contiguous."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 2 or a.shape[1] < 2:
        raise DermasegError(f"expected an RGB image H×W×3, got an array of shape {a.shape}")
    if a.dtype != np.uint8:
        raise DermasegError(f"expected a uint8 RGB image, got dtype {a.dtype} (use dermaseg.io.read_image)")
    return np.ascontiguousarray(a[..., :3])


def to_model_frame(xy: np.ndarray, scale: float) -> np.ndarray:
    """Input-pixel coordinates (any shape, x/y pairs or boxes) -> model-frame coordinates."""
    return np.asarray(xy, dtype=np.float64) * scale


def to_input_frame(xy: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`to_model_frame`."""
    return np.asarray(xy, dtype=np.float64) / scale


def normalise_prompt(box, points, labels, size: tuple[int, int]):
    """Validate a prompt in input pixels -> (box tuple or None, points N×2 float or None, labels N int).

    The box is ordered (x0 <= x1, y0 <= y1) and clipped to the image; a box wholly outside the image,
    non-finite numbers or a labels/points length mismatch raise DermasegError.
    """
    h, w = size
    out_box = None
    if box is not None:
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        if b.size != 4 or not np.all(np.isfinite(b)):
            raise DermasegError(f"box must be 4 finite numbers x0,y0,x1,y1, got {box!r}")
        x0, x1 = sorted(b[[0, 2]])
        y0, y1 = sorted(b[[1, 3]])
        if x1 < 0 or y1 < 0 or x0 > w - 1 or y0 > h - 1:
            raise DermasegError(f"box {tuple(b)} lies outside the {w}x{h} image")
        out_box = (float(max(x0, 0)), float(max(y0, 0)), float(min(x1, w - 1)), float(min(y1, h - 1)))
    pts = lab = None
    if points is not None and len(points):
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if not np.all(np.isfinite(pts)):
            raise DermasegError(f"points must be finite numbers, got {points!r}")
        lab = np.ones(len(pts), np.int64) if labels is None else np.asarray(labels, np.int64).reshape(-1)
        if len(lab) != len(pts):
            raise DermasegError(f"{len(pts)} points but {len(lab)} point labels")
    return out_box, pts, lab


def sam_embed(model, rgbs: list[np.ndarray], device, encoder=None) -> list[Embedding]:
    """Preprocess and encode images as one batch -> one :class:`Embedding` per image.

    ``encoder``: a callable used instead of ``model.encode`` (the Predictor passes its
    :class:`~dermaseg.models.sam.fast_inference.FastEncoder`)."""
    import torch

    xs, metas = [], []
    for rgb in rgbs:
        x, scale = model.preprocess(rgb)
        h, w = rgb.shape[:2]
        metas.append(((h, w), scale, (max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))))
        xs.append(x)
    from dermaseg.models.sam.fast_inference import prepare

    with torch.inference_mode():
        emb = (encoder or model.encode)(torch.stack(xs).to(device))
        return [Embedding(emb[i:i + 1], *m, prepared=prepare(model, emb[i:i + 1])) for i, m in enumerate(metas)]


def logits_to_input(logits, emb: Embedding, image_size: int):
    """Low-res logits 1×1×256×256 (padded model frame) -> logits H×W at the input's size (tensor)."""
    import torch.nn.functional as F

    s = int(image_size)
    x = logits
    if x.shape[-1] != s or x.shape[-2] != s:
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    x = x[..., : emb.resized[0], : emb.resized[1]]
    if tuple(x.shape[-2:]) != tuple(emb.size):
        x = F.interpolate(x, size=emb.size, mode="bilinear", align_corners=False)
    return x[0, 0]


def sam_decode(model, emb: Embedding, box, pts, labels, multimask: bool) -> tuple[np.ndarray, float]:
    """Decode one prompt (input pixels) -> (probability H×W float32, predicted IoU of the kept mask)."""
    import torch

    dev = emb.tensor.device
    with torch.inference_mode():
        tb = tp = tl = None
        if box is not None:
            tb = torch.as_tensor(to_model_frame(box, emb.scale), dtype=torch.float32, device=dev).view(1, 4)
        if pts is not None:
            tp = torch.as_tensor(to_model_frame(pts, emb.scale), dtype=torch.float32, device=dev)[None]
            tl = torch.as_tensor(labels, dtype=torch.int64, device=dev)[None]
        if emb.prepared is not None:  # same result as model.decode, about twice as fast
            from dermaseg.models.sam.fast_inference import decode_prepared

            sparse, _ = model.prompt_embeddings(tb, tp, tl, 1)
            logits, iou = decode_prepared(model, emb.prepared, sparse, multimask)
        else:
            logits, iou = model.decode(emb.tensor, boxes=tb, points=tp, labels=tl, multimask=multimask)
        k = int(torch.argmax(iou[0]))
        full = logits_to_input(logits[:, k:k + 1], emb, model.image_size)
        prob = torch.sigmoid(full).float().cpu().numpy()
    return prob.astype(np.float32, copy=False), float(iou[0, k])


def cnn_probs(model, rgbs: list[np.ndarray], device, tta: bool = False) -> list[np.ndarray]:
    """CNN probability maps at each input's own size: resize to ``model.input_size``, normalise with
    ``model.mean``/``model.std`` (0..1 scale), sigmoid, resize back. ``tta`` averages the
    probabilities of identity, horizontal flip and vertical flip."""
    import cv2
    import torch
    import torch.nn.functional as F

    ih, iw = model.input_size
    mean = np.asarray(model.mean, np.float32)
    std = np.asarray(model.std, np.float32)
    batch = []
    for rgb in rgbs:
        h, w = rgb.shape[:2]
        interp = cv2.INTER_AREA if (h > ih and w > iw) else cv2.INTER_LINEAR
        r = cv2.resize(rgb, (iw, ih), interpolation=interp) if (h, w) != (ih, iw) else rgb
        batch.append(((r.astype(np.float32) / 255.0 - mean) / std).transpose(2, 0, 1))
    out = []
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(batch)).to(device)
        prob = torch.sigmoid(model(x).float())
        if tta:
            prob = prob + torch.sigmoid(model(x.flip(-1)).float()).flip(-1)
            prob = (prob + torch.sigmoid(model(x.flip(-2)).float()).flip(-2)) / 3.0
        for i, rgb in enumerate(rgbs):
            p = prob[i:i + 1]
            if tuple(p.shape[-2:]) != rgb.shape[:2]:
                p = F.interpolate(p, size=rgb.shape[:2], mode="bilinear", align_corners=False)
            out.append(p[0, 0].clamp(0, 1).cpu().numpy().astype(np.float32))
    return out
