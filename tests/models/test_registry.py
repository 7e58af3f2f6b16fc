"""The registry: names, patterns and saved files resolve to one entry; the family and training task are
asked of it, never read off a name."""

from __future__ import annotations

import pytest
import torch

from dermaseg.errors import DermasegError
from dermaseg.models.files import save_model
from dermaseg.models.registry import ModelInfo, create_model, model_family, model_info, register_model


def test_family_and_task_of_names_patterns_and_files(tmp_path):
    assert (model_family("default"), model_info("default").task) == ("cnn", "cnn")
    assert (model_family("unet-tiny"), model_info("unet-tiny").task) == ("cnn", "cnn")  # pattern unet-
    assert (model_family("litemedsam"), model_info("litemedsam").task) == ("sam", None)
    assert (model_family("sam-vit-b"), model_info("sam-vit-b").task) == ("sam", None)
    assert model_info("skinsam-mobilesam").task == "skinsam" and model_info("melseg-sam-vit-b").task == "melseg"
    assert model_info("skinsam-mobilesam").name == "skinsam-"  # the longest matching pattern
    torch.manual_seed(0)
    save_model(create_model("fpn-tiny", pretrained=False, input_size=(64, 64)), tmp_path / "m.pt")
    assert model_family(str(tmp_path / "m.pt")) == "cnn" and model_info(str(tmp_path / "m.pt")).name == "fpn-"


def test_a_registered_name_is_asked_not_parsed(monkeypatch):
    from dermaseg.models import registry

    monkeypatch.setitem(registry._REGISTRY, "skinsam-lookalike",
                        ModelInfo("skinsam-lookalike", builder=lambda n, **k: None, family="cnn", input_size="64"))
    assert model_family("skinsam-lookalike") == "cnn" and model_info("skinsam-lookalike").task == "cnn"
    register_model(ModelInfo("tmp-sam", builder=lambda n, **k: None, family="sam", input_size="64"))
    try:
        assert model_info("tmp-sam").task is None
    finally:
        registry._REGISTRY.pop("tmp-sam")


def test_unknown_names_list_the_known_ones(tmp_path):
    with pytest.raises(DermasegError, match=r"unknown model 'nope'.*litemedsam"):
        model_info("nope")
    with pytest.raises(DermasegError, match="model file not found"):
        create_model(str(tmp_path / "absent.pt"))
    with pytest.raises(DermasegError, match="not a pretrained SAM-family model"):
        create_model("skinsam-unet-tiny", pretrained=False)
