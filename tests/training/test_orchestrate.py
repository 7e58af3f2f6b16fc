"""`dermaseg train`: recipe and overrides, one run or K folds, one-line errors, end to end on synthetic
layouts and on the real ISIC 2017 layout (skipped without ../shared/data)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dermaseg.cli import main
from dermaseg.data.synthetic import write_dataset
from dermaseg.models.registry import create_model
from dermaseg.training import recipes
from tests.clirun import run_cli

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]


def test_train_cli_on_isic2017_layout_then_segment_with_the_model(tmp_path, capsys):
    data = write_dataset(tmp_path / "isic", "isic2017", n=9, size=(64, 64), seed=0)
    out = tmp_path / "run"
    code, cap = run_cli(["train", "--data", str(data), "--recipe", "default", "--out", str(out), *TINY], capsys)
    assert code == 0, cap.err
    assert "the dataset's own train/val splits" in (out / "config.json").read_text()
    assert "per-image Dice" in cap.out and str(out / "best.pt") in cap.out
    model = create_model(str(out / "best.pt"))
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 64, 64)
    pytest.importorskip("dermaseg.inference.segment")
    images = sorted((data / "ISIC-2017_Validation_Data").glob("*.jpg"))
    code, cap = run_cli(["segment", str(images[0]), "--out", str(tmp_path / "seg"), "--model",
                         str(out / "best.pt")], capsys)
    assert code == 0, cap.err
    assert (tmp_path / "seg" / f"{images[0].stem}_mask.png").is_file()


def test_train_cli_errors_are_one_line(tmp_path, capsys):
    data = write_dataset(tmp_path / "f", "folder", n=4, size=(64, 64))
    code, cap = run_cli(["train", "--data", str(data), "--recipe", "nope", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "unknown recipe 'nope'" in cap.err
    code, cap = run_cli(["train", "--data", str(data), "--out", str(tmp_path / "o"), "--loss", "hinge", *TINY],
                        capsys)
    assert code == 2 and "unknown loss" in cap.err


def test_folds_zero_trains_one_run_even_for_a_recipe_with_folds(ham, tmp_path, capsys, monkeypatch):
    import dataclasses

    with_folds = dataclasses.replace(recipes.RECIPES["default"], folds=3)
    monkeypatch.setitem(recipes.RECIPES, "default", with_folds)
    out = tmp_path / "one"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "0",
                         *TINY], capsys)
    assert code == 0, cap.err
    assert (out / "best.pt").is_file() and not (out / "fold_0").exists() and not (out / "cv_table.csv").exists()
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(tmp_path / "x"),
                         "--folds", "1", *TINY], capsys)
    assert code != 0 and "--folds 1" in cap.err


def test_validation_data_is_the_datasets_own_split_or_a_grouped_holdout(tmp_path, ham):
    from dermaseg.data.readers import load_dataset
    from dermaseg.training.orchestrate import train_val_split
    from dermaseg.training.recipes import get_recipe

    isic = load_dataset(write_dataset(tmp_path / "isic", "isic2017", n=9, size=(32, 32), seed=0))
    train, val, note = train_val_split(isic, get_recipe("default"))
    assert [s.split for s in train] == ["train"] * 3 and [s.split for s in val] == ["val"] * 3
    assert note == "the dataset's own train/val splits"
    ds = load_dataset(ham)
    train, val, note = train_val_split(ds, get_recipe("default").override(val_fraction=0.2), seed=1)
    assert len(train) + len(val) == len(ds) and val and note == "grouped 80/20 hold-out (seed 1)"
    assert not {s.group for s in train} & {s.group for s in val}


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
