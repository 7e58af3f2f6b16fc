"""scripts/calibrate_default.py on a real (tiny) CV: the folds it used, its out-of-fold cache growing fold by
fold as folds finish (a finished fold is never predicted twice; a re-trained one is), and its figures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tests.clirun import run_cli
from tests.scripts import load_script

TINY = ["--recipe", "default", "--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1",
        "--folds", "3", "--final", "none"]


def _script():
    return load_script("calibrate_default")


def _calibrate(cv: Path, data: Path, out: Path, capsys, *extra: str) -> SimpleNamespace:
    """Run the script's main in this process (its stderr says which folds it predicted)."""
    capsys.readouterr()
    code = _script().main([str(cv), "--data", str(data), "--out", str(out), "--tables", str(out.parent / "tables"),
                           *extra])
    cap = capsys.readouterr()
    return SimpleNamespace(returncode=code, stdout=cap.out, stderr=cap.err)


def test_calibration_follows_the_folds_as_they_finish(ham, tmp_path, capsys):
    cv = tmp_path / "cv"
    code, cap = run_cli(["train", "--data", str(ham), "--out", str(cv), *TINY, "--fold", "0"], capsys)
    assert code == 0, cap.err
    r = _calibrate(cv, ham, tmp_path / "c1.json", capsys)
    assert r.returncode == 0, r.stderr[-2000:]
    one = json.loads((tmp_path / "c1.json").read_text())
    n0 = len(json.loads((cv / "splits.json").read_text())["folds"][0]["val"])
    assert one["folds_used"] == [0] and one["n_images"] == n0
    assert one["folds_total"] == len(json.loads((cv / "splits.json").read_text())["folds"]) > 1
    assert one["cv_recipe"] == {"name": "default", "model": "unet-tiny", "input_size": [64, 64], "epochs": 1}
    assert one["quality_oof"]["spearman_fold_held_out"] is None  # one fold: nothing to hold out
    assert "fold 0: " in r.stderr and "OOF images predicted" in r.stderr

    code, cap = run_cli(["train", "--data", str(ham), "--out", str(cv), *TINY], capsys)  # folds 1 and 2
    assert code == 0, cap.err
    r = _calibrate(cv, ham, tmp_path / "c2.json", capsys)
    assert r.returncode == 0, r.stderr[-2000:]
    two = json.loads((tmp_path / "c2.json").read_text())
    assert two["folds_used"] == [0, 1, 2] and two["n_images"] == 15 and two["folds_total"] == 3
    assert "fold 0: " not in r.stderr  # cached from the first call
    assert "fold 1: " in r.stderr and "fold 2: " in r.stderr
    assert [row["fold"] for row in two["cv_table"]] == [0, 1, 2]
    assert sum(row["n"] for row in two["cv_table"]) == 15
    assert 0 <= two["threshold"] <= 1 and two["postprocess_rule"] in ("area", "mass")
    oof = (tmp_path / "tables" / "oof.csv").read_text().splitlines()
    assert len(oof) == 16 and oof[0].startswith("id,label,fold,jaccard")
    z = np.load(cv / "oof_probs.npz", allow_pickle=True)
    assert sorted({it["fold"] for it in z["items"]}) == [0, 1, 2]

    os.utime(cv / "fold_1" / "best.pt", ns=(0, 0))  # fold 1 re-trained: its cached maps are stale
    r = _calibrate(cv, ham, tmp_path / "c3.json", capsys)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "fold 1: " in r.stderr and "fold 0: " not in r.stderr and "fold 2: " not in r.stderr
    three = json.loads((tmp_path / "c3.json").read_text())
    assert three["cv_table"] == two["cv_table"] and three["threshold"] == two["threshold"]
    assert three["fold_weights"] == "best.pt"
    g = three["grid"][0]
    assert 0 <= g["recall"] <= 1 and 0 <= g["precision"] <= 1
    assert {"rule": three["postprocess_rule"], "threshold": three["threshold"]} in three["tied_with_best"]

    # the fold models at their last epoch: every fold's cached maps are stale (they came from best.pt)
    r = _calibrate(cv, ham, tmp_path / "c4.json", capsys, "--weights", "last")
    assert r.returncode == 0, r.stderr[-2000:]
    assert all(f"fold {i}: " in r.stderr for i in range(3))
    assert json.loads((tmp_path / "c4.json").read_text())["fold_weights"] == "last.pt"


def _point(t: float, js: list[float], recall: float, precision: float) -> tuple[dict, np.ndarray]:
    return ({"rule": "area", "threshold": t, "jaccard": float(np.mean(js)), "recall": recall,
             "precision": precision}, np.array(js))


def test_choose_takes_the_most_balanced_setting_among_those_tied_with_the_best():
    choose = _script().choose
    a, ja = _point(0.5, [0.8, 0.8, 0.8, 0.8], 0.80, 0.95)  # the best Jaccard, under-segments
    # differences to a: -.01 .01 0 -.01 -> mean -0.0025, sd 0.009574, se 0.004787: tied with a
    b, jb = _point(0.4, [0.79, 0.81, 0.8, 0.79], 0.88, 0.90)
    c, jc = _point(0.3, [0.7, 0.7, 0.7, 0.7], 0.90, 0.90)  # balanced, but 0.1 worse on every image
    grid = [c, b, a]
    per = {("area", 0.5): ja, ("area", 0.4): jb, ("area", 0.3): jc}
    chosen, tied = choose(grid, per)
    assert chosen is b and tied == [b, a]
    # b's differences made consistent (-0.0025 on every image: se 0): no longer tied, the best stands
    per[("area", 0.4)] = ja - 0.0025
    chosen, tied = choose(grid, per)
    assert chosen is a and tied == [a]
    # exact ties in Jaccard and balance: the threshold nearest 0.5
    d, jd = _point(0.45, [0.8, 0.8, 0.8, 0.8], 0.80, 0.95)
    chosen, _ = choose([d, a], {("area", 0.45): jd, ("area", 0.5): ja})
    assert chosen is a
