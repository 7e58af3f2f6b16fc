"""Cross-validation bookkeeping, the sweep, and `dermaseg train` end to end on synthetic layouts."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dermaseg.cli import main
from dermaseg.data.synthetic import write_dataset
from dermaseg.models.registry import create_model
from dermaseg.training import recipes
from dermaseg.training import sweep as sweep_mod

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    return e.value.code, capsys.readouterr()


@pytest.fixture(scope="module")
def ham(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("ham") / "HAM", "ham10000", n=15, size=(64, 64), seed=2)


def test_cv_never_puts_a_lesion_in_two_folds_and_tables_every_fold(ham, tmp_path, capsys):
    out = tmp_path / "cv"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         *TINY], capsys)
    assert code == 0, cap.err
    splits = json.loads((out / "splits.json").read_text())
    meta = list(csv.DictReader((ham / "HAM10000_metadata.csv").open()))
    lesion = {r["image_id"]: r["lesion_id"] for r in meta}
    fold_of_lesion: dict[str, int] = {}
    for i in range(3):
        cfg = json.loads((out / f"fold_{i}" / "config.json").read_text())
        assert cfg["fold"] == i and cfg["n_train"] + cfg["n_val"] == 15
        ids = [r["id"] for r in csv.DictReader((out / f"fold_{i}" / "per_image.csv").open())]
        assert sorted(ids) == sorted(splits["folds"][i]["val"])
        for x in ids:
            assert fold_of_lesion.setdefault(lesion[x], i) == i, f"lesion {lesion[x]} in two folds"
    assert sum(len(f["val"]) for f in splits["folds"]) == 15
    rows = list(csv.DictReader((out / "cv_table.csv").open()))
    assert [r["fold"] for r in rows] == ["0", "1", "2"]
    summary = json.loads((out / "cv_summary.json").read_text())
    dice = [float(r["dice"]) for r in rows]
    assert summary["per_image_mean"]["dice"]["mean"] == pytest.approx(sum(dice) / 3, rel=1e-5)
    assert {"dice", "iou", "accuracy", "precision", "recall"} <= set(summary["pooled"])
    # re-running skips the finished folds and does not retrain
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         *TINY], capsys)
    assert code == 0 and cap.out.count("finished earlier") == 3


def test_limit_subsets_both_sides_of_every_fold(ham, tmp_path, capsys):
    out = tmp_path / "lim"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--limit", "9", *TINY], capsys)
    assert code == 0, cap.err
    splits = json.loads((out / "splits.json").read_text())
    assert sum(len(f["val"]) for f in splits["folds"]) == 15  # the saved splits cover the whole dataset
    from dermaseg.data.readers import load_dataset

    first9 = {s.id for s in load_dataset(ham).samples[:9]}
    seen = []
    for i in range(3):
        cfg = json.loads((out / f"fold_{i}" / "config.json").read_text())
        ids = [r["id"] for r in csv.DictReader((out / f"fold_{i}" / "per_image.csv").open())]
        assert set(ids) == set(splits["folds"][i]["val"]) & first9  # its own fold's share of the 9
        assert cfg["n_train"] + cfg["n_val"] == 9
        seen += ids
    assert sorted(seen) == sorted(first9)


def test_single_fold(ham, tmp_path, capsys):
    out = tmp_path / "one"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--fold", "1", *TINY], capsys)
    assert code == 0, cap.err
    assert (out / "fold_1" / "best.pt").is_file() and not (out / "fold_0").exists()
    assert [r["fold"] for r in csv.DictReader((out / "cv_table.csv").open())] == ["1"]
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--fold", "7", *TINY], capsys)
    assert code == 2 and "folds 0..2" in cap.err


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


def test_sweep_runs_each_point_once_and_tables_it(ham, tmp_path, capsys, monkeypatch):
    # the machinery of the 12-run melSeg grid, on a 2-point grid with the tiny model
    assert len(sweep_mod.grid_points("melseg")[1]) == 12
    monkeypatch.setitem(sweep_mod.GRIDS, "mini", ("default", {"loss": ("dicece", "focal"), "lr": (1e-3,)}))
    out = tmp_path / "sweep"
    args = ["sweep", "--data", str(ham), "--grid", "mini", "--folds", "2", "--out", str(out),
            "--model", "unet-tiny", "--epochs", "1"]
    monkeypatch.setitem(recipes.RECIPES, "default", recipes.RECIPES["default"].override(
        input_size=(64, 64), batch_size=4))
    code, cap = run_cli(args, capsys)
    assert code == 0, cap.err
    rows = list(csv.DictReader((out / "sweep_table.csv").open()))
    assert [(r["loss"], r["lr"]) for r in rows] == [("dicece", "0.001"), ("focal", "0.001")]
    assert {"accuracy_mean", "precision_std", "recall_mean", "dice_mean", "dice_std", "iou_mean"} <= set(rows[0])
    assert all(r["folds_done"] == "2" for r in rows)
    code, cap = run_cli(args, capsys)
    assert code == 0 and cap.out.count("finished earlier, skipped") == 2


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
