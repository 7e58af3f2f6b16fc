"""The bundled automatic model: checksum pinned and verified, loads offline, segments with no prompt."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.errors import WeightsError
from dermaseg.models import default as default_mod
from dermaseg.models.base import CNNSegmenter
from dermaseg.models.weights import sha256_file

from .tamper import tampered_copy


def test_checksum_is_pinned_and_matches_the_file():
    assert len(default_mod.DEFAULT_SHA256) == 64
    assert sha256_file(default_mod.ASSET_DIR / "model.safetensors") == default_mod.DEFAULT_SHA256


def test_weights_small_enough_to_ship_with_a_current_model_card():
    assert (default_mod.ASSET_DIR / "model.safetensors").stat().st_size < 15e6
    card = (default_mod.ASSET_DIR / "MODEL_CARD.md").read_text(encoding="utf-8")
    # the card describes these weights, not an earlier file
    assert default_mod.DEFAULT_SHA256 in card
    for section in ("Training data", "Recipe", "Validation", "Licence"):
        assert section in card, section


def test_corrupted_weights_are_refused(tmp_path, monkeypatch):
    copy = tampered_copy(default_mod.ASSET_DIR, tmp_path / "default_model", "model.safetensors")
    monkeypatch.setattr(default_mod, "ASSET_DIR", copy)
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        default_mod.load_default_model()


def test_loads_as_cnn_and_runs_forward():
    import torch

    from dermaseg.models.registry import create_model

    m = create_model("default")
    assert isinstance(m, CNNSegmenter)
    h, w = m.input_size
    with torch.inference_mode():
        y = m(torch.zeros(1, 3, h, w))
    assert y.shape == (1, 1, h, w)


def test_automatic_segmentation_finds_a_synthetic_lesion():
    from dermaseg.data.synthetic import make_image
    from dermaseg.evaluation.metrics import image_metrics
    from dermaseg.inference.predictor import load_predictor

    p = load_predictor("default", device="cpu")
    dices = []
    for seed in range(4):
        rgb, truth = make_image(150, 200, seed=seed)  # non-square, not the training size
        p.set_image(rgb)
        out = p.predict()
        assert out.mask.shape == truth.shape and out.prob.shape == truth.shape
        assert out.prob.dtype == np.float32 and 0.0 <= out.prob.min() <= out.prob.max() <= 1.0
        dices.append(image_metrics(out.mask, truth, hd95=False)["dice"])
    # a model that learned lesions (not a constant) overlaps synthetic blobs well on average
    assert np.mean(dices) > 0.6, dices


@pytest.mark.realdata
def test_default_model_on_real_isic_validation_images(shared_data):
    from dermaseg.data.readers import load_dataset
    from dermaseg.evaluation.metrics import image_metrics
    from dermaseg.inference.predictor import load_predictor
    from dermaseg.io import read_image, read_mask

    ds = load_dataset(shared_data / "isic2017").select("val")
    p = load_predictor("default", device="cpu")
    dices = []
    for s in ds.samples[:20]:
        p.set_image(read_image(s.image))
        dices.append(image_metrics(p.predict().mask, read_mask(s.mask), hd95=False)["dice"])
    assert np.mean(dices) > 0.8, dices
