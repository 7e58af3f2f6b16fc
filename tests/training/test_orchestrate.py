"""`dermaseg train` on the real ISIC 2017 layout (skipped without ../shared/data)."""

from __future__ import annotations

import csv
import json

import pytest

from dermaseg.cli import main


@pytest.mark.realdata
def test_train_smoke_on_real_isic2017(shared_data, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", str(shared_data / "isic2017"), "--recipe", "default", "--out", str(out),
              "--model", "unet-tiny", "--image-size", "64", "--limit", "8", "--epochs", "1", "--batch-size", "4"])
    assert e.value.code == 0, capsys.readouterr().err
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["format"] == "isic2017" and cfg["n_train"] == 8 and cfg["n_val"] == 150
    rows = list(csv.DictReader((out / "per_image.csv").open()))
    assert len(rows) == 150 and {r["label"] for r in rows} <= {"melanoma", "seborrheic_keratosis", "nevus"}
