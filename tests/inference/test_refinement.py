"""Iterative refinement: a prompt extending the previous one feeds the previous low-res logits back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dermaseg.inference.predictor import Predictor
from dermaseg.inference.sam_steps import torch_decode
from dermaseg.io import read_image
from dermaseg.models.registry import create_model
from dermaseg.models.sam.fast_inference import decode_prepared, prepare, with_mask

SAMPLE = Path(__file__).resolve().parents[2] / "src/dermaseg/assets/samples/ISIC_0012099.jpg"


@pytest.fixture(scope="module")
def lite():
    return create_model("litemedsam")


@pytest.mark.parametrize("name", ["litemedsam", "mobilesam"])
def test_fast_mask_path_equals_upstream(name):
    """The prepared decoder with a mask prompt (with_mask) equals upstream decode(masks=) (untrained nets)."""
    torch.manual_seed(0)
    model = create_model(name, pretrained=False).eval()
    emb = torch.randn(1, 256, 64, 64)
    mask = torch.randn(1, 1, 256, 256) * 4
    box = torch.tensor([[20.0, 30.0, 180.0, 200.0]])
    pts, lab = torch.tensor([[[60.0, 90.0], [100.0, 40.0]]]), torch.tensor([[1, 0]])
    with torch.inference_mode():
        ref, riou = model.decode(emb, boxes=box, points=pts, labels=lab, multimask=False, masks=mask)
        prep = with_mask(model, prepare(model, emb), mask)
        sparse, _ = model.prompt_embeddings(box, pts, lab, 1)
        out, iou = decode_prepared(model, prep, sparse, False)
    assert torch.allclose(out, ref, atol=2e-3, rtol=1e-3)
    assert torch.allclose(iou, riou, atol=1e-4)


def test_refinement_equals_hand_fed_logits(lite):
    rgb = read_image(SAMPLE)
    h, w = rgb.shape[:2]
    box = (w * 0.2, h * 0.2, w * 0.8, h * 0.8)
    clicks = [(w * 0.5, h * 0.5)]
    pred = Predictor(lite, device="cpu")
    pred.set_image(rgb)
    first = pred.predict(box=box)
    logits = pred._cache["session"]["logits"]
    second = pred.predict(box=box, points=clicks, point_labels=[1])
    # by hand: the same decoder, the box, the click and the first call's logits as the mask prompt
    emb = pred._cache["sam"]
    s = emb.scale
    with torch.inference_mode():
        lg, _ = torch_decode(lite, emb, torch.tensor([box], dtype=torch.float32) * s,
                             torch.tensor([clicks], dtype=torch.float32) * s, torch.tensor([[1]]), False,
                             mask_input=logits)
        lg_up, _ = lite.decode(emb.tensor, boxes=torch.tensor([box], dtype=torch.float32) * s,
                               points=torch.tensor([clicks], dtype=torch.float32) * s, labels=torch.tensor([[1]]),
                               multimask=False, masks=logits)
    assert torch.allclose(pred._cache["session"]["logits"], lg, atol=1e-5)
    assert torch.allclose(lg, lg_up, atol=2e-3, rtol=1e-3)
    # a fresh start (reset_prompts) gives the unrefined mask, which differs
    pred.reset_prompts()
    fresh = pred.predict(box=box, points=clicks, point_labels=[1])
    assert not np.array_equal(fresh.prob, second.prob)
    pred2 = Predictor(lite, device="cpu", refine=False)
    pred2.set_image(rgb)
    assert np.allclose(pred2.predict(box=box, points=clicks, point_labels=[1]).prob, fresh.prob, atol=1e-6)
    # repeating the same prompt repeats the same mask; a different box starts afresh
    pred.predict(box=box)
    again = pred.predict(box=box, points=clicks, point_labels=[1])
    assert np.allclose(again.prob, second.prob, atol=1e-6)
    assert np.allclose(pred.predict(box=box, points=clicks, point_labels=[1]).prob, second.prob, atol=1e-6)
    assert first.box == second.box


def test_point_alone_on_upstream_warns_and_flags(lite):
    rgb = read_image(SAMPLE)
    pred = Predictor(lite, device="cpu")
    pred.set_image(rgb)
    h, w = rgb.shape[:2]
    with pytest.warns(UserWarning, match="trained with box prompts only"):
        out = pred.predict(points=[(w / 2, h / 2)])
    assert "untrained-prompt" in out.flags
    with pytest.warns(UserWarning):
        from dermaseg.data.prompts import Prompt

        out2 = pred.predict(Prompt(point=(w / 2, h / 2)))
    assert np.array_equal(out2.mask, out.mask) or out2.points == out.points
