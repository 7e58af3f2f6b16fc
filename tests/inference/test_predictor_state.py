"""Predictor.image_state / restore_image: several cached images, each made current again without
recomputing, predicting exactly what a fresh set_image predicts (what the web server relies on)."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.data.prompts import mask_bbox
from dermaseg.data.synthetic import make_image
from dermaseg.errors import DermasegError
from dermaseg.inference.predictor import ImageState, Predictor, load_predictor
from dermaseg.models.registry import create_model


def test_sam_states_restore_without_recomputing(monkeypatch):
    from dermaseg.models.sam.fast_inference import FastEncoder

    p = Predictor(create_model("litemedsam"), device="cpu")
    (a, ta), (b, tb) = make_image(64, 96, seed=1), make_image(80, 64, seed=2)
    box_a = mask_bbox(ta)
    with pytest.raises(DermasegError, match="set_image"):
        p.image_state  # noqa: B018
    p.set_image(a)
    want = p.predict(box=box_a)
    sa = p.image_state
    p.set_image(b)
    sb = p.image_state
    calls = []
    orig = FastEncoder.__call__
    monkeypatch.setattr(FastEncoder, "__call__", lambda self, x: calls.append(1) or orig(self, x))
    p.restore_image(sa)
    got = p.predict(box=box_a)
    assert np.array_equal(got.prob, want.prob) and np.array_equal(got.mask, want.mask) and got.score == want.score
    p.restore_image(sb)
    assert p.predict(box=mask_bbox(tb)).mask.shape == (80, 64)
    assert calls == []  # nothing re-encoded
    # bytes: the image plus the 1x256x64x64 float32 embedding at least
    assert isinstance(sa, ImageState) and np.array_equal(sa.rgb, a)
    assert sa.nbytes >= a.nbytes + 256 * 64 * 64 * 4


def test_cnn_state_restores():
    p = load_predictor("default", device="cpu")
    (a, _), (b, _) = make_image(96, 128, seed=3), make_image(96, 128, seed=4)
    p.set_image(a)
    want = p.predict()
    sa = p.image_state
    assert sa.nbytes == a.nbytes + 96 * 128 * 4  # the image and its float32 probability map
    p.set_image(b)
    assert not np.array_equal(p.predict().prob, want.prob)
    p.restore_image(sa)
    assert np.array_equal(p.predict().prob, want.prob)
    with pytest.raises(DermasegError, match="made by this Predictor"):
        load_predictor("default", device="cpu").restore_image(sa)
