"""dermaseg sweep: each grid point cross-validated once, resumable, tabled."""

from __future__ import annotations

import csv

from dermaseg.training import recipes
from dermaseg.training import sweep as sweep_mod
from tests.clirun import run_cli

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]


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
