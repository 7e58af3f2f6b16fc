"""Named recipes: the seeds' settings, command-line overrides, and the task that follows the model."""

from __future__ import annotations

import dataclasses

import pytest

from dermaseg.errors import DermasegError
from dermaseg.training.orchestrate import resolve_recipe
from dermaseg.training.recipes import RECIPES, get_recipe


def test_recipes_cite_their_seeds_and_overrides():
    assert {"unet-paper", "fpn-paper", "skinsam", "melseg", "default", "candidate-lite0",
            "default-mobilenet"} <= set(RECIPES)
    d = RECIPES["default"]  # the bundled model's recipe; its CV ran as candidate-lite0, the same settings
    assert (d.model, d.input_size, d.epochs, d.warmup_epochs, d.schedule, d.augment) == (
        "fpn-efficientnet-lite0", (192, 256), 24, 1, "cosine", "strong")
    assert dataclasses.replace(RECIPES["candidate-lite0"], name="default", notes=d.notes) == d
    old = RECIPES["default-mobilenet"]  # the previous bundled model's
    assert (old.model, old.input_size, old.epochs, old.warmup_epochs, old.augment) == (
        "fpn-mobilenet_v2", (128, 160), 8, 0, "moderate")
    up = RECIPES["unet-paper"]
    assert (up.seed, up.input_size, up.loss, up.optimizer, up.lr, up.batch_size, up.epochs) == (
        "002", (224, 224), "bce", "adam", 1e-3, 32, 20)
    assert RECIPES["fpn-paper"].monitor == "iou" and RECIPES["fpn-paper"].loss == "dice"
    m = RECIPES["melseg"]
    assert (m.folds, m.loss, m.lr, m.batch_size) == (5, "dicece", 1e-4, 4)
    # --image-size keeps the recipe's aspect, in multiples of 32
    assert resolve_recipe("default", image_size=128).input_size == (96, 128)
    assert resolve_recipe("unet-paper", image_size=128, epochs=3).input_size == (128, 128)
    with pytest.raises(DermasegError, match="unknown recipe"):
        get_recipe("nope")


def test_with_model_takes_the_task_from_the_registry():
    r = get_recipe("skinsam").with_model("mobilesam")  # a pretrained SAM model under a SAM recipe
    assert (r.model, r.kind) == ("skinsam-mobilesam", "skinsam")
    assert get_recipe("melseg").with_model("litemedsam").model == "melseg-litemedsam"
    assert get_recipe("default").with_model("skinsam-litemedsam").kind == "skinsam"
    assert get_recipe("skinsam").with_model("melseg-mobilesam").kind == "melseg"
    assert get_recipe("melseg").with_model("unet-tiny").kind == "cnn"
    assert get_recipe("default").with_model(None) == get_recipe("default")
    with pytest.raises(DermasegError, match="pretrained SAM-family model: fine-tune it"):
        get_recipe("default").with_model("litemedsam")
    with pytest.raises(DermasegError, match="unknown model 'nope'"):
        get_recipe("default").with_model("nope")


def test_the_warm_up_belongs_to_the_cosine_schedule():
    d = get_recipe("default")
    assert d.override(schedule="constant").warmup_epochs == 0  # would otherwise be refused by the trainer
    assert d.override(schedule="plateau").warmup_epochs == 0
    assert d.override(epochs=3).warmup_epochs == 1
    assert d.override(schedule="cosine", warmup_epochs=2).warmup_epochs == 2
