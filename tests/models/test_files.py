"""Model files: one format, written atomically, read back by path."""

from __future__ import annotations

import pytest
import torch

from dermaseg.errors import DermasegError
from dermaseg.models.files import read_model_file, save_model, write_model_file
from dermaseg.models.registry import create_model, names_model_file


def test_round_trip_keeps_config_weights_and_extra(tmp_path):
    torch.manual_seed(0)
    m = create_model("unet-tiny", pretrained=False, input_size=(64, 64))
    save_model(m, tmp_path / "sub" / "m.pt", extra={"epoch": 3})
    f = read_model_file(tmp_path / "sub" / "m.pt")
    assert f.config["name"] == "unet-tiny" and f.extra == {"epoch": 3} and f.training is None
    for k, v in m.state_dict().items():
        assert torch.equal(f.state_dict[k], v), k
    back = create_model(str(tmp_path / "sub" / "m.pt"))
    assert back.config["source_file"] == str(tmp_path / "sub" / "m.pt")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(back.eval()(x), m.eval()(x))
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name != "m.pt"]  # no temporary left


def test_training_state_and_bad_files(tmp_path):
    write_model_file(tmp_path / "last.pt", {"name": "unet-tiny"}, {}, {"a": 1}, training={"epoch": 2})
    assert read_model_file(tmp_path / "last.pt").training == {"epoch": 2}
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(DermasegError, match="junk.pt: not a dermaseg model file"):
        read_model_file(tmp_path / "junk.pt")
    torch.save({"weights": {}}, tmp_path / "other.pt")
    with pytest.raises(DermasegError, match="expected keys 'config' and 'state_dict'"):
        read_model_file(tmp_path / "other.pt")
    torch.save({"config": {}, "state_dict": {}}, tmp_path / "noname.pt")
    with pytest.raises(DermasegError, match="no model name"):
        read_model_file(tmp_path / "noname.pt")
    with pytest.raises(DermasegError, match="model file not found"):
        read_model_file(tmp_path / "absent.pt")


def test_what_counts_as_a_file_name(tmp_path, monkeypatch):
    assert names_model_file("runs/x/best.pt") and names_model_file("m.safetensors")
    assert not names_model_file("litemedsam") and not names_model_file("unet-mobilenet_v2")
    # in a folder holding a stray file called `default` and a model saved without a suffix
    monkeypatch.chdir(tmp_path)
    (tmp_path / "default").write_text("not a model\n")
    (tmp_path / "unet-tiny").write_text("not a model either\n")
    torch.manual_seed(0)
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), tmp_path / "mynet")
    assert not names_model_file("default") and not names_model_file("unet-tiny")  # registered names win
    assert names_model_file("./default") and names_model_file("mynet")  # ./ or an unregistered name: the file
    assert create_model("default").config.get("bundled")  # the bundled model, not the stray file
    assert create_model("mynet").config["source_file"] == "mynet"
    with pytest.raises(DermasegError, match="default"):
        create_model("./default")
    # a saved file whose config names a registered model still loads with that stray file present
    save_model(create_model("unet-tiny", pretrained=False, input_size=(64, 64)), tmp_path / "t.pt")
    assert create_model("t.pt").config["name"] == "unet-tiny"
