"""Edits are kept: a person's brush/eraser edit of a mask survives the prompts that follow it.

The rule (one home, used by :meth:`dermaseg.inference.predictor.Predictor.apply_edit` and the Predictor's
SAM step, hence by the Python API and the server's ``PUT /api/images/{id}/mask`` then ``.../predict``):

1. **Refine from the edit.** The image's prompt session keeps the last prompt's low-res logits (iterative
   refinement). An edit overwrites them, inside the image, in the low-res cells it changed (more than
   ``CHANGED_SHARE`` of their pixels differ from the edited model mask): ``+EDIT_LOGIT`` where the person
   painted lesion, ``-EDIT_LOGIT`` where they erased it; elsewhere the model's own logits stay. A following prompt that extends the last one is fed these logits, so the
   model refines the *edited* mask.
2. **Keep what the prompt did not change.** Let ``base`` be the model's mask the person edited, ``edit``
   the edited mask and ``new`` the model's mask for the following prompt. The result is ``new`` where the
   model's answer changed (``new != base``: the prompt's effect) and ``edit`` everywhere else, so a brushed
   or erased pixel stays unless the prompt changed the model's mask there. The result and ``new`` become
   the next ``edit`` and ``base``: edits keep surviving later prompts until :meth:`Predictor.reset_prompts`
   (or a new image).
"""

from __future__ import annotations

import numpy as np

__all__ = ["EDIT_LOGIT", "edit_session", "keep_edits", "mask_to_lowres"]

#: the logit written where an edit changed the mask (SAM's own confident logits are of this size)
EDIT_LOGIT = 8.0
#: a low-res cell counts as edited when more than this share of its pixels changed
CHANGED_SHARE = 0.25


def mask_to_lowres(mask: np.ndarray, emb, image_size: int):
    """An H×W mask at the input's size -> (share of lesion 1×1×256×256, inside-the-image 1×1×256×256 bool),
    in the padded model frame of the low-res logits (the inverse of ``sam_steps.logits_to_input``)."""
    import torch
    import torch.nn.functional as F

    s = int(image_size)
    h, w = emb.resized
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    m = F.interpolate(m, size=(h, w), mode="area") if (h, w) != tuple(mask.shape) else m
    frame = torch.zeros((1, 1, s, s))
    frame[..., :h, :w] = m
    inside = torch.zeros((1, 1, s, s))
    inside[..., :h, :w] = 1.0
    if s != 256:
        frame = F.interpolate(frame, size=(256, 256), mode="area")
        inside = F.interpolate(inside, size=(256, 256), mode="area")
    return frame, inside > 0.5


def edit_session(last: dict | None, emb, image_size: int, edited: np.ndarray,
                 before: np.ndarray | None = None) -> dict:
    """The prompt session after a person's edit (module docstring, step 1) -> the new session dict.
    ``base``: the session's model mask (after earlier kept edits: the model's, not the merged one), else
    ``before`` (the mask the person edited, e.g. the automatic mask), else empty."""
    import torch

    edited = np.asarray(edited, dtype=bool)
    sess = dict(last or {"prompt": None, "logits": None, "fed": None})
    base = sess.get("base", sess.get("mask"))
    if base is None:
        base = np.zeros_like(edited) if before is None else np.asarray(before, dtype=bool)
    sess["edit"], sess["base"] = edited, base
    logits = sess.get("logits")
    if logits is not None and emb is not None and base.shape == edited.shape:
        share, inside = mask_to_lowres(edited, emb, image_size)
        changed, _ = mask_to_lowres(edited != base, emb, image_size)
        want = (share > 0.5).to(logits.device)
        wrong = (inside & (changed > CHANGED_SHARE)).to(logits.device)
        value = torch.where(want, torch.full_like(logits, EDIT_LOGIT), torch.full_like(logits, -EDIT_LOGIT))
        sess["logits"] = torch.where(wrong, value, logits)
    return sess


def keep_edits(last: dict | None, new: np.ndarray) -> tuple[np.ndarray, dict]:
    """Step 2 of the module docstring: the model's ``new`` mask and the previous session -> (the mask to
    return, the edit fields to carry into the next session: ``{}`` when there was no edit)."""
    if not last or last.get("edit") is None or last["edit"].shape != new.shape:
        return new, {}
    merged = np.where(last["base"] != new, new, last["edit"])
    return merged, {"edit": merged, "base": new}
