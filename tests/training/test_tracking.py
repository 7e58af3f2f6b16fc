"""--track: a CV is a parent MLflow run with one nested run per fold (params, epochs, final evaluation,
artefacts), read back with MLflow's client; TensorBoard gets event files with the epochs' scalars; a
tracked run's numbers are the untracked run's; a missing extra is one line."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from dermaseg.training import recipes
from dermaseg.training import sweep as sweep_mod
from tests.clirun import run_cli

TINY = ["--model", "unet-tiny", "--image-size", "64", "--batch-size", "4", "--epochs", "1"]


def _client(folder, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient((folder / "mlruns").resolve().as_uri())
    exp = client.get_experiment_by_name("dermaseg")
    assert exp is not None
    return client, {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


def _fold_numbers(out, k):
    return [json.loads((out / f"fold_{i}" / "metrics.json").read_text())["summary"] for i in range(k)]


@pytest.mark.slow
def test_cv_tracked_by_mlflow_is_a_parent_with_a_run_per_fold_and_the_same_numbers(ham, tmp_path, capsys,
                                                                                   monkeypatch):
    pytest.importorskip("mlflow")
    plain, tracked = tmp_path / "plain", tmp_path / "tracked"
    base = ["train", "--data", str(ham), "--recipe", "default", "--folds", "2", "--final", "none", "--limit", "8",
            *TINY]
    code, cap = run_cli([*base, "--out", str(tracked), "--track", "mlflow"], capsys)
    assert code == 0, cap.err
    code, cap = run_cli([*base, "--out", str(plain), "--fold", "0"], capsys)  # fold 0 again, untracked
    assert code == 0, cap.err
    # tracking never changes results: the same fold's evaluation and epochs
    assert _fold_numbers(plain, 1) == _fold_numbers(tracked, 1)

    def epochs(out):  # every column but the training time
        return [{k: v for k, v in r.items() if k != "seconds"}
                for r in csv.DictReader((out / "fold_0" / "history.csv").open())]

    assert epochs(plain) == epochs(tracked) and len(epochs(plain)) == 1
    assert not (plain / "mlruns").exists()

    client, runs = _client(tracked, monkeypatch)
    assert set(runs) == {"tracked", "fold_0", "fold_1"}
    parent = runs["tracked"]
    assert "mlflow.parentRunId" not in parent.data.tags
    summary = json.loads((tracked / "cv_summary.json").read_text())
    assert parent.data.metrics["cv_dice_mean"] == pytest.approx(summary["per_image_mean"]["dice"]["mean"])
    assert parent.data.metrics["cv_dice_std"] == pytest.approx(summary["per_image_mean"]["dice"]["std"])
    assert parent.data.params["recipe.model"] == "unet-tiny" and parent.data.params["folds"] == "2"
    assert {"cv_table.csv", "cv_summary.json", "report.html"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)}
    for i in range(2):
        run = runs[f"fold_{i}"]
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params["fold"] == str(i) and run.data.params["recipe.lr"] == str(
            recipes.RECIPES["default"].lr)
        history = list(csv.DictReader((tracked / f"fold_{i}" / "history.csv").open()))
        epochs = client.get_metric_history(run.info.run_id, "val_dice")
        assert [(m.step, m.value) for m in epochs] == [
            (int(r["epoch"]), pytest.approx(float(r["val_dice"]), rel=1e-5)) for r in history]
        s = json.loads((tracked / f"fold_{i}" / "metrics.json").read_text())["summary"]
        assert run.data.metrics["eval_dice"] == pytest.approx(s["per_image_mean"]["dice"]["mean"])
        assert run.data.metrics["eval_pooled_iou"] == pytest.approx(s["pooled"]["iou"])
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"best.pt", "metrics.json", "report.html", "history.csv", "config.json"} <= names
        model = client.download_artifacts(run.info.run_id, "best.pt", str(tmp_path / f"dl{i}"))
        assert open(model, "rb").read() == (tracked / f"fold_{i}" / "best.pt").read_bytes()


@pytest.mark.slow
def test_one_run_tracked_by_tensorboard_writes_the_epochs_as_event_scalars(ham, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, plain = tmp_path / "run", tmp_path / "plain"
    args = ["train", "--data", str(ham), "--recipe", "default", *TINY, "--epochs", "2"]
    code, cap = run_cli([*args, "--out", str(out), "--track", "tensorboard"], capsys)
    assert code == 0, cap.err
    code, cap = run_cli([*args, "--out", str(plain)], capsys)
    assert code == 0, cap.err
    # the same numbers untracked
    summary = json.loads((out / "metrics.json").read_text())["summary"]
    assert summary == json.loads((plain / "metrics.json").read_text())["summary"]
    assert not (plain / "tensorboard").exists()
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events, list(out.iterdir())
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    history = list(csv.DictReader((out / "history.csv").open()))
    assert [(e.step, e.value) for e in acc.Scalars("val/dice")] == [
        (int(r["epoch"]), pytest.approx(float(r["val_dice"]), rel=1e-5)) for r in history]
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]
    s = json.loads((out / "metrics.json").read_text())["summary"]
    assert acc.Scalars("eval/dice")[-1].value == pytest.approx(s["per_image_mean"]["dice"]["mean"], rel=1e-6)


@pytest.mark.slow
def test_sweep_tracked_by_mlflow_nests_folds_in_points_in_the_sweep(ham, tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setitem(sweep_mod.GRIDS, "one", ("default", {"loss": ("dicece",), "lr": (1e-3,)}))
    monkeypatch.setitem(recipes.RECIPES, "default", recipes.RECIPES["default"].override(
        input_size=(64, 64), batch_size=4))
    out = tmp_path / "sweep"
    code, cap = run_cli(["sweep", "--data", str(ham), "--grid", "one", "--folds", "2", "--out", str(out),
                         "--model", "unet-tiny", "--epochs", "1", "--limit", "8", "--track", "mlflow"], capsys)
    assert code == 0, cap.err
    client, runs = _client(out, monkeypatch)
    assert set(runs) == {"sweep", "dicece-lr0.001", "fold_0", "fold_1"}
    point = runs["dicece-lr0.001"]
    assert point.data.tags["mlflow.parentRunId"] == runs["sweep"].info.run_id
    assert point.data.params["loss"] == "dicece" and "cv_dice_mean" in point.data.metrics
    assert all(runs[f"fold_{i}"].data.tags["mlflow.parentRunId"] == point.info.run_id for i in range(2))
    assert "sweep_table.csv" in {a.path for a in client.list_artifacts(runs["sweep"].info.run_id)}


def test_track_errors_are_one_line_and_leave_nothing(ham, tmp_path, capsys, monkeypatch):
    out = tmp_path / "x"
    code, cap = run_cli(["train", "--data", str(ham), "--out", str(out), *TINY, "--track", "wandb"], capsys)
    assert code == 2 and cap.err.strip().splitlines() == [
        "error: --track wandb: choose one of mlflow, tensorboard"]
    code, cap = run_cli(["train", "--data", str(ham), "--out", str(out), *TINY, "--tracking-uri", "x"], capsys)
    assert code == 2 and "--tracking-uri needs --track" in cap.err
    monkeypatch.setitem(sys.modules, "mlflow", None)  # the extra not installed
    code, cap = run_cli(["sweep", "--data", str(ham), "--out", str(out), "--track", "mlflow"], capsys)
    lines = cap.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "pip install 'dermaseg[track]'" in lines[0], cap.err
    assert lines[0].startswith("error: --track: mlflow is not installed")
    assert not out.exists()
