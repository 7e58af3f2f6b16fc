"""Predictor: coordinate round trips on non-square images, the real LiteMedSAM on synthetic lesions,
embedding caching, batching, the CNN path (flip TTA, cnn+sam) and post-processing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dermaseg.data.prompts import mask_bbox
from dermaseg.data.synthetic import make_image
from dermaseg.errors import DermasegError
from dermaseg.inference import cnn_steps
from dermaseg.inference.predictor import Predictor, load_predictor
from dermaseg.models.registry import create_model


@pytest.fixture(scope="module")
def lite():
    return create_model("litemedsam")


def _dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


@pytest.mark.parametrize("hw", [(96, 160), (160, 96)])
def test_litemedsam_box_lands_on_synthetic_lesion(lite, hw):
    rgb, truth = make_image(*hw, seed=5)
    p = Predictor(lite, device="cpu")
    p.set_image(rgb)
    x0, y0, x1, y1 = mask_bbox(truth)
    pred = p.predict(box=(x0 - 4, y0 - 4, x1 + 4, y1 + 4))
    assert pred.prob.shape == hw and pred.prob.dtype == np.float32 and pred.mask.shape == hw
    assert 0.0 <= pred.prob.min() and pred.prob.max() <= 1.0 and pred.score is not None
    assert _dice(pred.mask, truth) > 0.8
    cy, cx = np.argwhere(pred.mask).mean(0)
    ty, tx = np.argwhere(truth).mean(0)
    assert abs(cx - tx) < 5 and abs(cy - ty) < 5


def test_embedding_cached_once(lite, monkeypatch):
    from dermaseg.models.sam.fast_inference import FastEncoder

    calls = []
    orig = FastEncoder.__call__
    monkeypatch.setattr(FastEncoder, "__call__", lambda self, x: calls.append(x.shape) or orig(self, x))
    rgb, truth = make_image(64, 96, seed=1)
    p = Predictor(lite, device="cpu")
    with pytest.raises(DermasegError, match="set_image"):
        p.predict(box=(1, 1, 20, 20))
    p.set_image(rgb)
    a = p.predict(box=(10, 10, 60, 50))
    p.predict(points=[(30, 30)])
    p.predict()
    b = p.predict(box=(10, 10, 60, 50))
    assert len(calls) == 1 and np.array_equal(a.prob, b.prob)
    p.set_image(rgb)
    assert len(calls) == 2


def test_predict_batch_matches_predict(lite):
    imgs = [make_image(64, 96, seed=0)[0], make_image(80, 48, seed=7)[0]]
    prompts = [{"box": (4, 8, 40, 70), "points": [(20, 40)]}, None]
    p = Predictor(lite, device="cpu")
    batch = p.predict_batch(imgs, prompts, batch_size=2)
    for im, pr, got in zip(imgs, prompts, batch, strict=True):
        p.set_image(im)
        ref = p.predict(**(pr or {}))
        assert got.prob.shape == im.shape[:2]
        assert np.allclose(got.prob, ref.prob, atol=1e-4) and got.score == pytest.approx(ref.score, abs=1e-4)
    assert "no-prompt" in batch[1].source


def test_cnn_path_tta_and_refine(lite, dark_cnn):
    rgb, truth = make_image(100, 140, seed=2)
    cnn = dark_cnn
    p = Predictor(cnn, device="cpu", postprocess=False)
    assert not p.promptable
    p.set_image(rgb)
    pred = p.predict(box=(0, 0, 5, 5))  # prompts are ignored by a CNN
    assert pred.prob.shape == (100, 140) and pred.box is None and pred.score is None
    assert _dice(pred.mask, truth) > 0.6
    # the Predictor's TTA is cnn_steps' flip TTA (tested there against the three flips by hand)
    tp = Predictor(cnn, device="cpu", postprocess=False, tta=True)
    tp.set_image(rgb)
    assert np.array_equal(tp.predict().prob, cnn_steps.cnn_probs(cnn, [rgb], torch.device("cpu"), tta=True)[0])
    assert not np.array_equal(tp.predict().prob, pred.prob)
    both = Predictor(cnn, device="cpu", auto="cnn+sam", refiner=lite)
    both.set_image(rgb)
    r = both.predict()
    assert r.box is not None and r.score is not None and "litemedsam" in r.source
    assert _dice(r.mask, truth) > 0.7
    with pytest.raises(DermasegError, match="CNN model"):
        Predictor(lite, auto="cnn")


def test_load_predictor_choices(lite):
    p = load_predictor(lite, device="cpu")
    assert p.promptable and p.auto is None
    with pytest.raises(DermasegError, match="unknown automatic mode"):
        load_predictor(lite, auto="magic")
    with pytest.raises(DermasegError, match="SAM-family"):
        load_predictor(lite, auto="cnn")
