"""Edits are kept (dermaseg.inference.edits): hand-computed masks for the merge rule, the edit written into
the session's low-res logits, and a real LiteMedSAM session where a brushed stroke survives later prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dermaseg.errors import DermasegError
from dermaseg.inference.edits import EDIT_LOGIT, keep_edits
from dermaseg.inference.predictor import Predictor
from dermaseg.io import read_image
from dermaseg.models.registry import create_model

pytestmark = pytest.mark.filterwarnings("ignore:'litemedsam' was trained with box prompts only")
SAMPLE = Path(__file__).resolve().parents[2] / "src/dermaseg/assets/samples/ISIC_0012099.jpg"


def test_merge_rule_by_hand():
    base = np.array([[0, 1, 1, 0]], bool)  # the model's mask the person edited
    edit = np.array([[1, 1, 0, 0]], bool)  # brushed pixel 0, erased pixel 2
    new = np.array([[0, 1, 1, 1]], bool)  # the next prompt: pixel 3 changed, 0 and 2 did not
    merged, carry = keep_edits({"edit": edit, "base": base}, new)
    assert merged.tolist() == [[True, True, False, True]]
    assert carry["base"] is new and np.array_equal(carry["edit"], merged)
    assert keep_edits({"prompt": None}, new)[0] is new and keep_edits(None, new)[1] == {}


@pytest.fixture(scope="module")
def lite():
    return create_model("litemedsam")


def test_edit_overwrites_logits_where_it_disagrees_and_strokes_survive(lite):
    rgb = read_image(SAMPLE)  # 256x192: LiteMedSAM's frame is the image itself (scale 1)
    h, w = rgb.shape[:2]
    pred = Predictor(lite, device="cpu")
    pred.set_image(rgb)
    box = (w * 0.2, h * 0.2, w * 0.8, h * 0.8)
    first = pred.predict(box=box)
    before = pred._cache["session"]["logits"].clone()
    edited = first.mask.copy()
    edited[4:14, 4:14] = True  # a brush stroke far outside the box
    pred.apply_edit(edited)
    after = pred._cache["session"]["logits"]
    assert torch.all(after[0, 0, 4:14, 4:14] == EDIT_LOGIT)
    same = np.ones((256, 256), bool)
    same[4:14, 4:14] = False
    assert torch.equal(after[0, 0][torch.from_numpy(same)], before[0, 0][torch.from_numpy(same)])
    # the next click refines from the edited logits and the stroke stays (the model leaves that corner alone)
    click = pred.predict(box=box, points=[(w / 2, h / 2)], point_labels=[1])
    assert click.mask[4:14, 4:14].all()
    new = pred._cache["session"]["mask"]  # the model's own mask for the click
    assert np.array_equal(click.mask, np.where(first.mask != new, new, edited))
    # and a later prompt too; reset_prompts forgets the edit
    later = pred.predict(box=box, points=[(w / 2, h / 2), (w * 0.3, h * 0.3)], point_labels=[1, 0])
    assert later.mask[4:14, 4:14].all()
    pred.reset_prompts()
    assert not pred.predict(box=box).mask[4:14, 4:14].any()


def test_apply_edit_refuses_wrong_shape_and_cnn(lite):
    pred = Predictor(lite, device="cpu")
    with pytest.raises(DermasegError, match="set_image"):
        pred.apply_edit(np.zeros((4, 4), bool))
    pred.set_image(np.zeros((32, 48, 3), np.uint8))
    with pytest.raises(DermasegError, match="48x32"):
        pred.apply_edit(np.zeros((48, 32), bool))
