"""The SAM-family steps of the :class:`~dermaseg.inference.predictor.Predictor`: embed an image, decode a
prompt, and the frame maps between input pixels and the model frame.

Frames: a SAM-family model sees the image resized so its longest side is ``S`` (``model.image_size``),
padded bottom-right to S×S. An input pixel coordinate maps to the model frame as ``x * scale`` with
``scale = S / max(H, W)``. The decoder's low-resolution logits (256×256, covering the padded S×S frame)
come back to the input as: upsample to S×S, crop the padding, resize to H×W (:func:`logits_to_input`).
Every function runs under ``torch.inference_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dermaseg.data.prompts import Prompt
from dermaseg.inference.flags import COVER_FRACTION
from dermaseg.models.sam.fast_inference import decode_prepared, prepare, with_mask

__all__ = ["Embedding", "to_model_frame", "to_input_frame", "sam_embed", "logits_to_input", "candidate_cover",
           "choose_candidate", "torch_decode", "sam_decode"]


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


def to_model_frame(xy: np.ndarray, scale: float) -> np.ndarray:
    """Input-pixel coordinates (any shape, x/y pairs or boxes) -> model-frame coordinates."""
    return np.asarray(xy, dtype=np.float64) * scale


def to_input_frame(xy: np.ndarray, scale: float) -> np.ndarray:
    """Inverse of :func:`to_model_frame`."""
    return np.asarray(xy, dtype=np.float64) / scale


def sam_embed(model, rgbs: list[np.ndarray], device, encoder=None, prepare_decoder: bool = True) -> list[Embedding]:
    """Preprocess and encode RGB uint8 H×W×3 images as one batch -> one :class:`Embedding` per image.

    ``encoder``: a callable used instead of ``model.encode`` (the Predictor passes its backend's: torch's
    :class:`~dermaseg.models.sam.fast_inference.FastEncoder`, or onnxruntime's). ``prepare_decoder``: also
    compute the torch decoder's per-image state (:func:`~dermaseg.models.sam.fast_inference.prepare`)."""
    import torch

    xs, metas = [], []
    for rgb in rgbs:
        x, scale = model.preprocess(rgb)
        h, w = rgb.shape[:2]
        metas.append(((h, w), scale, (max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5)))))
        xs.append(x)
    with torch.inference_mode():
        emb = (encoder or model.encode)(torch.stack(xs).to(device))
        return [Embedding(emb[i:i + 1], *m, prepared=prepare(model, emb[i:i + 1]) if prepare_decoder else None)
                for i, m in enumerate(metas)]


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


def candidate_cover(logits, emb: Embedding, image_size: int) -> np.ndarray:
    """Share of the image each candidate covers: low-res logits 1×K×L×L (L = 256, the padded model frame)
    -> K fractions, counted on the logits' own grid inside the image's part of the frame (logit > 0)."""
    lo = logits[0]
    side = lo.shape[-1]
    h = max(1, min(side, int(np.ceil(emb.resized[0] * side / float(image_size)))))
    w = max(1, min(side, int(np.ceil(emb.resized[1] * side / float(image_size)))))
    return (lo[:, :h, :w] > 0).float().mean(dim=(1, 2)).cpu().numpy()


def choose_candidate(iou: np.ndarray, cover: np.ndarray, max_cover: float = COVER_FRACTION) -> int:
    """Which of K candidate masks to keep: the highest predicted IoU among those covering less than
    ``max_cover`` of the image (``flags.COVER_FRACTION``); the highest predicted IoU of all when every
    candidate covers that much.

    Why: with one point, SAM's and MobileSAM's decoders often rate the whole frame as their most confident
    candidate (the point is ambiguous between "the lesion" and "the skin"), and no dermoscopic lesion mask
    of ISIC 2017 covers 95 % of its image; the lesion is one of the other candidates."""
    iou = np.asarray(iou, dtype=np.float64).reshape(-1)
    cover = np.asarray(cover, dtype=np.float64).reshape(-1)
    keep = cover < max_cover
    if not keep.any():
        return int(np.argmax(iou))
    return int(np.flatnonzero(keep)[np.argmax(iou[keep])])


def torch_decode(model, emb: Embedding, boxes, points, labels, multimask: bool, mask_input=None):
    """The torch decoder on one embedding and model-frame prompts (boxes 1×4, points 1×N×2, labels 1×N,
    ``mask_input`` 1×1×256×256 previous low-res logits; each may be None) -> (low-res logits 1×K×256×256,
    IoU 1×K): the prepared fast path when the embedding has one, else ``model.decode``."""
    prep = emb.prepared
    if prep is not None and mask_input is not None:
        prep = with_mask(model, prep, mask_input)
    if prep is not None:  # same result as model.decode, about twice as fast
        sparse, _ = model.prompt_embeddings(boxes, points, labels, 1)
        return decode_prepared(model, prep, sparse, multimask)
    return model.decode(emb.tensor, boxes=boxes, points=points, labels=labels, multimask=multimask,
                        masks=mask_input)


def sam_decode(model, emb: Embedding, prompt: Prompt, multimask: bool, decoder=None, mask_input=None,
               keep: dict | None = None) -> tuple[np.ndarray, float]:
    """Decode one prompt, already checked against the image (:meth:`Prompt.for_image`, input pixels)
    -> (probability H×W float32, predicted IoU of the kept mask). With several candidates
    (``multimask``) the kept one is :func:`choose_candidate`'s: the highest predicted IoU among those that
    do not cover most of the image. ``decoder``: the network call
    ``(emb, boxes, points, labels, multimask) -> (logits, iou)`` (default :func:`torch_decode`).
    ``mask_input``: 1×1×256×256 low-res logits fed back as the mask prompt (iterative refinement; torch
    decoder only). ``keep``: a dict that receives the kept candidate's low-res logits under ``"logits"``."""
    import torch

    dev = emb.tensor.device
    with torch.inference_mode():
        tb = tp = tl = None
        if prompt.box is not None:
            tb = torch.as_tensor(to_model_frame(prompt.box, emb.scale), dtype=torch.float32, device=dev).view(1, 4)
        if prompt.points is not None:
            tp = torch.as_tensor(to_model_frame(prompt.points, emb.scale), dtype=torch.float32, device=dev)[None]
            tl = torch.as_tensor(prompt.labels, dtype=torch.int64, device=dev)[None]
        if decoder is None or mask_input is not None:
            logits, iou = torch_decode(model, emb, tb, tp, tl, multimask, mask_input)
        else:
            logits, iou = decoder(emb, tb, tp, tl, multimask)
        scores = iou[0].float().cpu().numpy()
        k = 0 if len(scores) == 1 else choose_candidate(scores, candidate_cover(logits, emb, model.image_size))
        if keep is not None:
            keep["logits"] = logits[:, k:k + 1].clone()
        full = logits_to_input(logits[:, k:k + 1], emb, model.image_size)
        prob = torch.sigmoid(full).float().cpu().numpy()
    return prob.astype(np.float32, copy=False), float(scores[k])
