"""unet-/fpn- CNN models: forward/backward, offline encoder weights, parameter counts, save/load."""

from __future__ import annotations

import pytest
import torch

from dermaseg.errors import DermasegError, WeightsError
from dermaseg.models.cnn import PARAM_COUNTS
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model, list_models
from dermaseg.models.weights import SOURCES, load_state_dict


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["unet-tiny", "fpn-tiny", "unet-mobilenet_v2", "fpn-efficientnet-lite0"])
def test_forward_backward_64(name):
    model = create_model(name, pretrained=False, input_size=[64, 64])
    x = torch.randn(2, 3, 64, 64)
    y = model(x)
    assert y.shape == (2, 1, 64, 64)
    y.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert model.input_size == (64, 64) and len(model.mean) == 3


def test_mobilenet_v2_encoder_starts_from_the_offline_imagenet_file():
    model = create_model("unet-mobilenet_v2")
    sd = load_state_dict(SOURCES["mobilenet_v2-imagenet"].path())
    enc = model.net.encoder.state_dict()
    for k in ("features.0.0.weight", "features.18.1.running_var", "features.7.conv.1.0.weight"):
        assert torch.equal(enc[k], sd[k])
    assert model.config["pretrained_encoder"] == "mobilenet_v2-imagenet"
    assert model.mean == (0.485, 0.456, 0.406)


def test_efficientnet_lite0_weights_map_by_position_onto_timm():
    model = create_model("fpn-efficientnet-lite0")
    sd = load_state_dict(SOURCES["efficientnet-lite0-imagenet"].path())
    enc = model.net.encoder.model
    assert torch.equal(enc.conv_stem.weight, sd["_conv_stem.weight"])
    assert torch.equal(enc.bn1.running_mean, sd["_bn0.running_mean"])
    # the last block of the last stage (lukemelas block 15 = timm blocks.6.0)
    assert torch.equal(enc.blocks[6][0].conv_pwl.weight, sd["_blocks.15._project_conv.weight"])
    assert torch.equal(enc.blocks[1][1].conv_dw.weight, sd["_blocks.2._depthwise_conv.weight"])
    assert model.mean == (0.5, 0.5, 0.5)  # TF's normalisation, which these weights were trained with


def test_random_init_differs_from_pretrained():
    a = create_model("unet-mobilenet_v2", pretrained=False).net.encoder.state_dict()["features.0.0.weight"]
    b = create_model("unet-mobilenet_v2").net.encoder.state_dict()["features.0.0.weight"]
    assert not torch.equal(a, b)


def test_param_counts_registered_for_dermaseg_models():
    for name, count in PARAM_COUNTS.items():
        model = create_model(name, pretrained=False)
        assert sum(p.numel() for p in model.parameters()) == count, name
    listed = {i.name: i for i in list_models()}
    assert listed["unet-mobilenet_v2"].params == PARAM_COUNTS["unet-mobilenet_v2"]
    assert listed["unet-"].pattern and listed["fpn-"].pattern


def test_errors():
    with pytest.raises(WeightsError, match="no offline ImageNet weights"):
        create_model("unet-resnet18")
    assert create_model("unet-resnet18", pretrained=False, input_size=[64, 64])(
        torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    with pytest.raises(DermasegError, match="multiples of 32"):
        create_model("unet-tiny", input_size=[100, 128])
    with pytest.raises(DermasegError, match="unknown model"):
        create_model("segformer-tiny")
    with pytest.raises(DermasegError, match="unknown option"):
        create_model("unet-tiny", dropout=0.3)


def test_save_and_load_round_trip(tmp_path):
    model = create_model("fpn-tiny", input_size=[64, 96]).eval()
    model.config["threshold"] = 0.4
    save_model(model, tmp_path / "m.pt")
    again = create_model(str(tmp_path / "m.pt")).eval()
    assert again.input_size == (64, 96) and again.config["threshold"] == 0.4
    x = torch.randn(1, 3, 64, 96)
    assert torch.equal(model(x), again(x))
