"""Cross-validation: no lesion in two folds, every fold tabled from its metrics.json, --limit, one fold,
resuming; old fold folders still read."""

from __future__ import annotations

import csv
import json

import pytest

from tests.clirun import run_cli

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]
#: the tests that are not about the final model skip its refit (its own check is in the first test)
NOFINAL = [*TINY, "--final", "none"]


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
    # the final model (--final refit, the default): all 15 images for the median of the folds' best epochs
    final = json.loads((out / "final" / "final.json").read_text())
    assert (out / "final.pt").is_file() and final["n_images"] == 15 and final["epochs"] == 1
    assert final["fold_best_epochs"] == [1, 1, 1]
    from dermaseg.models.files import resolve_model_path

    assert str(resolve_model_path(str(out))) == str(out / "final.pt")  # --model RUN_DIR loads it
    dice = [float(r["dice"]) for r in rows]
    assert summary["per_image_mean"]["dice"]["mean"] == pytest.approx(sum(dice) / 3, rel=1e-5)
    assert {"dice", "iou", "accuracy", "precision", "recall"} <= set(summary["pooled"])
    # the CV writes its own report: the protocol header, the fold table, mean ± std over folds, a figure
    html = (out / "report.html").read_text()
    assert f"report: {out / 'report.html'}" in cap.out
    for text in ("dermaseg cross-validation", "3-fold cross-validation grouped by lesion", "seed 0",
                 "15 validation images over 3 finished fold(s) of 3", f"ham10000 at {ham.resolve()}",
                 "unet-tiny (recipe default)", "none (automatic cnn", "Mean over folds",
                 f"{summary['per_image_mean']['dice']['mean']:.4f} ± {summary['per_image_mean']['dice']['std']:.4f}"):
        assert text in html, text
    assert (out / "figures" / "folds.png").is_file() and "variance" not in html
    assert all((out / f"fold_{i}" / "report.html").is_file() for i in range(3))
    # re-running skips the finished folds and does not retrain
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         *TINY], capsys)
    assert code == 0 and cap.out.count("finished earlier") == 3


def test_limit_draws_a_stratified_sample_then_folds_it_in_balanced_folds(ham, tmp_path, capsys):
    out = tmp_path / "lim"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--limit", "9", *NOFINAL], capsys)
    assert code == 0, cap.err
    from dermaseg.data.readers import load_dataset
    from dermaseg.data.sampling import sample_subset

    splits = json.loads((out / "splits.json").read_text())
    sizes = [len(f["val"]) for f in splits["folds"]]
    assert sum(sizes) == 9 and max(sizes) - min(sizes) <= 1  # the sample is folded: folds balanced in size
    want, _ = sample_subset(load_dataset(ham).samples, 9, "stratified", 0)  # evaluate --limit's sample
    seen = []
    for i in range(3):
        cfg = json.loads((out / f"fold_{i}" / "config.json").read_text())
        ids = [r["id"] for r in csv.DictReader((out / f"fold_{i}" / "per_image.csv").open())]
        assert set(ids) == set(splits["folds"][i]["val"])
        assert cfg["n_train"] + cfg["n_val"] == 9
        seen += ids
    assert sorted(seen) == sorted(s.id for s in want)


def test_single_fold(ham, tmp_path, capsys):
    out = tmp_path / "one"
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--fold", "1", *NOFINAL], capsys)
    assert code == 0, cap.err
    assert (out / "fold_1" / "best.pt").is_file() and not (out / "fold_0").exists()
    assert [r["fold"] for r in csv.DictReader((out / "cv_table.csv").open())] == ["1"]
    code, cap = run_cli(["train", "--data", str(ham), "--recipe", "default", "--out", str(out), "--folds", "3",
                         "--fold", "7", *NOFINAL], capsys)
    assert code == 2 and "folds 0..2" in cap.err


def test_folds_are_tabled_from_metrics_json_and_old_fold_folders_still_read(tmp_path):
    from dermaseg.training.cv import collect_cv

    out = tmp_path / "cv"
    new, old = out / "fold_0", out / "fold_1"
    new.mkdir(parents=True)
    old.mkdir()
    stale = {"n_images": 99, "per_image_mean": {"dice": {"mean": 0.1}}, "pooled": {"dice": 0.1}}
    (new / "result.json").write_text(json.dumps({"epochs": 2, "seconds": 3.0, "n_train": 8, "val": stale}))
    (new / "metrics.json").write_text(json.dumps({"summary": {
        "n": 4, "per_image_mean": {"dice": {"mean": 0.8, "std": 0.1}, "iou": {"mean": 0.7, "std": 0.1}},
        "pooled": {"dice": 0.82, "iou": 0.71}}}))
    (old / "result.json").write_text(json.dumps({"epochs": 2, "seconds": 5.0, "n_train": 8}))
    (old / "val_metrics.json").write_text(json.dumps({  # a fold written before metrics.json existed
        "n_images": 5, "per_image_mean": {"dice": {"mean": 0.6, "std": 0.2}, "iou": {"mean": 0.5, "std": 0.2}},
        "pooled": {"dice": 0.62, "iou": 0.51}}))
    summary = collect_cv(out, 2)
    rows = list(csv.DictReader((out / "cv_table.csv").open()))
    assert [(r["fold"], r["n_val"], r["dice"], r["pooled_dice"]) for r in rows] == [
        ("0", "4", "0.8", "0.82"), ("1", "5", "0.6", "0.62")]  # metrics.json wins over result.json
    assert summary["per_image_mean"]["dice"]["mean"] == pytest.approx(0.7)
    assert summary["pooled"]["iou"]["mean"] == pytest.approx(0.61)
