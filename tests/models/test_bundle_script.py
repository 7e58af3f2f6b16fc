"""scripts/bundle_default_model.py: a run's best.pt or last.pt becomes fp16 safetensors whose sha256 is pinned,
with the calibration's pipeline keys in config.json, and the bundle loads back through load_default_model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch

from dermaseg.models import default as default_mod
from dermaseg.models.files import save_model
from dermaseg.models.registry import create_model
from dermaseg.models.weights import sha256_file
from tests.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


def _script():
    return load_script("bundle_default_model")


def _run(tmp_path: Path) -> Path:
    """A run folder whose best.pt (epoch 3) and last.pt (epoch 5) hold different weights."""
    run = tmp_path / "run"
    torch.manual_seed(0)
    best = create_model("unet-tiny", input_size=(64, 64))
    save_model(best, run / "best.pt", extra={"epoch": 3})
    last = create_model("unet-tiny", input_size=(64, 64))
    with torch.no_grad():
        for p in last.parameters():
            p.add_(0.25)
    save_model(last, run / "last.pt", extra={"epoch": 5})
    (run / "config.json").write_text(json.dumps({"recipe": {"name": "tiny", "epochs": 5}}))
    return run


def test_last_weights_and_calibration_bundle_and_load_back(tmp_path, monkeypatch, capsys):
    run = _run(tmp_path)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"threshold": 0.35, "postprocess_rule": "mass", "quality": {"kind": "test"},
                               "folds_used": [0, 1], "folds_total": 5, "fold_weights": "last.pt",
                               "recall": 0.91, "precision": 0.92,
                               "cv_table": [{"fold": 0, "jaccard": 0.84}]}))
    mod = _script()
    asset, pin = tmp_path / "asset", tmp_path / "default.py"
    shutil.copy(ROOT / "src" / "dermaseg" / "models" / "default.py", pin)
    monkeypatch.setattr(mod, "ASSET", asset)
    monkeypatch.setattr(mod, "PIN", pin)
    assert mod.main([str(run), "--weights", "last", "--calibration", str(cal)]) == 0
    assert "warning" not in capsys.readouterr().err  # calibrated on last.pt, ships last.pt

    st = asset / "model.safetensors"
    assert st.stat().st_mode & 0o777 == 0o644
    digest = re.search(r'^DEFAULT_SHA256 = "([0-9a-f]{64})"$', pin.read_text(), re.M).group(1)
    assert digest == sha256_file(st)
    cfg = json.loads((asset / "config.json").read_text())
    assert cfg["threshold"] == 0.35 and cfg["postprocess_rule"] == "mass"
    assert cfg["weights_from"] == {"file": "last.pt", "epoch": 5}
    assert cfg["calibration"]["fold_weights"] == "last.pt" and cfg["calibration"]["folds_used"] == [0, 1]
    assert cfg["calibration"]["folds_total"] == 5
    assert cfg["training"]["recipe"]["name"] == "tiny"

    # the bundle loads back as the default model: last.pt's weights (fp16-rounded), the calibrated pipeline
    monkeypatch.setattr(default_mod, "ASSET_DIR", asset)
    monkeypatch.setattr(default_mod, "DEFAULT_SHA256", digest)
    model = default_mod.load_default_model()
    assert model.config["threshold"] == 0.35 and model.config["postprocess_rule"] == "mass"
    want = torch.load(run / "last.pt", map_location="cpu", weights_only=True)["state_dict"]
    got = model.state_dict()
    for k, v in want.items():
        if v.is_floating_point():
            torch.testing.assert_close(got[k], v.half().float(), rtol=0, atol=0)
    other = torch.load(run / "best.pt", map_location="cpu", weights_only=True)["state_dict"]
    assert any(not torch.equal(got[k], v.half().float()) for k, v in other.items() if v.is_floating_point())


def test_a_calibration_made_on_other_fold_weights_is_warned_about(tmp_path, monkeypatch, capsys):
    run = _run(tmp_path)
    cal = tmp_path / "cal.json"
    cal.write_text(json.dumps({"threshold": 0.5, "postprocess_rule": "area", "quality": {},
                               "fold_weights": "best.pt"}))
    mod = _script()
    pin = tmp_path / "default.py"
    shutil.copy(ROOT / "src" / "dermaseg" / "models" / "default.py", pin)
    monkeypatch.setattr(mod, "ASSET", tmp_path / "asset")
    monkeypatch.setattr(mod, "PIN", pin)
    assert mod.main([str(run), "--weights", "last", "--calibration", str(cal)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "best.pt" in err and "last.pt" in err
    assert json.loads((tmp_path / "asset" / "config.json").read_text())["weights_from"]["epoch"] == 5
