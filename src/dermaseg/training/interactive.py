"""SAM's interactive training episode for a decoder over cached embeddings (the ``litemedsam-derm`` recipe).

SAM (Kirillov et al. 2023, §A "Training algorithm") trains its decoder on simulated interactive sessions:
a first prompt (a box or a point), then clicks sampled from the error of the current prediction, each step
given all the clicks so far and the previous step's low-resolution logits as the mask prompt. One episode
here, per batch:

1. the first prompt: the jittered box of the item (SkinSAM's jitter; ``p_point_first`` of the batches start
   with one positive click at the lesion's centre instead, so a click alone also works);
2. ``n`` clicks, ``n`` drawn uniformly from 1..``max_clicks`` per batch: each from
   :func:`dermaseg.data.clicks.sample_click` on the previous step's mask (logit > 0) against the truth,
   inside the image's part of the padded frame, added to the clicks so far; the previous logits (detached)
   are fed back as the mask prompt, as SAM does;
3. the loss sees the first step and the last step (both with gradients); the steps in between run without
   gradients (RITM's cheaper variant of iterative training), so a batch costs two backward passes.

An item whose mask already equals the truth gets a padding point (label -1, SAM's "not a point") instead of
a click. Validation (no gradients) runs the same episode with ``n = max_clicks`` and a fixed generator.

Coordinates: clicks are found on the 256×256 low-resolution grid of the padded model frame and mapped to the
model frame's pixels (``S / 256`` per cell, at the cell centre).
"""

from __future__ import annotations

import numpy as np
import torch

from dermaseg.data.clicks import next_click, sample_click

__all__ = ["interactive_forward"]


def _to_frame(x: float, y: float, cell: float) -> tuple[float, float]:
    return (x + 0.5) * cell - 0.5, (y + 0.5) * cell - 0.5


def interactive_forward(model, emb: torch.Tensor, boxes: torch.Tensor, target: torch.Tensor,
                        valid: torch.Tensor, rng: np.random.Generator, max_clicks: int = 5, train: bool = True,
                        p_point_first: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """One episode (module docstring). ``emb`` B×256×64×64, ``boxes`` B×4 (model frame), ``target``
    B×1×L×L in {0, 1} (L = 256), ``valid`` B×2 (rows, columns of the image inside the L×L grid) ->
    (logits 2B×1×L×L of the first and the last step, target 2B×1×L×L)."""
    b, side = emb.shape[0], target.shape[-1]
    cell = float(model.image_size) / side
    truths = target[:, 0].detach().cpu().numpy() > 0.5
    masks_valid = np.zeros((b, side, side), bool)
    for i, (h, w) in enumerate(valid.tolist()):
        masks_valid[i, :h, :w] = True
    pts: list[list[tuple[float, float]]] = [[] for _ in range(b)]
    lab: list[list[int]] = [[] for _ in range(b)]
    use_box = (not train) or rng.random() >= p_point_first
    if not use_box:
        for i in range(b):
            c = next_click(np.zeros_like(truths[i]), truths[i], masks_valid[i])
            x, y = _to_frame(c[0], c[1], cell) if c else (0.0, 0.0)
            pts[i].append((x, y))
            lab[i].append(1 if c else -1)
    box_t = boxes if use_box else None

    def step(prev):
        p = l_ = None
        if pts[0]:
            p = torch.tensor(pts, dtype=torch.float32, device=emb.device)
            l_ = torch.tensor(lab, dtype=torch.int64, device=emb.device)
        logits, _ = model.decode(emb, boxes=box_t, points=p, labels=l_, multimask=False, masks=prev)
        return logits

    first = step(None)
    n = max_clicks if not train else int(rng.integers(1, max_clicks + 1))
    prev, last = first.detach(), first
    for k in range(n):
        preds = prev[:, 0].cpu().numpy() > 0
        for i in range(b):
            c = sample_click(preds[i], truths[i], rng, valid=masks_valid[i]) if train else \
                next_click(preds[i], truths[i], masks_valid[i])
            x, y = _to_frame(c[0], c[1], cell) if c else (0.0, 0.0)
            pts[i].append((x, y))
            lab[i].append(c[2] if c else -1)
        with torch.set_grad_enabled(train and k == n - 1):
            last = step(prev)
        prev = last.detach()
    return torch.cat([first, last]), torch.cat([target, target])
