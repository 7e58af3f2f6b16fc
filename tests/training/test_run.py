"""One run in one folder: its files, resume checks, and its final validation, which is `dermaseg evaluate`:
the numbers `train` reports equal, to 1e-6, those of `dermaseg evaluate --model RUN/best.pt` on the same
images (command line end to end, both read from JSON)."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from dermaseg.cli import main
from dermaseg.data.readers import load_dataset
from dermaseg.data.synthetic import write_dataset
from dermaseg.errors import DermasegError
from dermaseg.models.registry import create_model
from dermaseg.training.recipes import get_recipe
from dermaseg.training.run import train_run
from dermaseg.training.trainer import HISTORY_COLUMNS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def _cli(args, capsys):
    with pytest.raises(SystemExit) as e:
        main([str(a) for a in args])
    cap = capsys.readouterr()
    assert e.value.code == 0, cap.err
    return cap.out


def _assert_same_scores(run, ev):
    a = json.loads((run / "metrics.json").read_text())
    b = json.loads((ev / "metrics.json").read_text())
    assert a["summary"]["n"] == b["summary"]["n"] > 0
    assert a["prompt"] == b["prompt"] and a["seed"] == b["seed"]
    for key in ("dice", "iou", "thresholded_jaccard", "accuracy", "hd95"):
        assert abs(a["summary"]["per_image_mean"][key]["mean"] - b["summary"]["per_image_mean"][key]["mean"]) <= 1e-6
    for key in ("dice", "iou", "tp", "fp", "fn", "tn"):
        assert abs(a["summary"]["pooled"][key] - b["summary"]["pooled"][key]) <= 1e-6
    rows_a = list(csv.DictReader((run / "per_image.csv").open()))
    rows_b = list(csv.DictReader((ev / "per_image.csv").open()))
    drop = ("seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows_a] == [
        {k: v for k, v in r.items() if k not in drop} for r in rows_b]
    return a, rows_a


def test_cnn_train_reports_what_evaluate_measures(tmp_path, capsys):
    data = write_dataset(tmp_path / "isic", "isic2017", n=18, size=(64, 80), seed=5)
    run = tmp_path / "run"
    out = _cli(["train", "--data", data, "--recipe", "default", "--model", "unet-tiny", "--image-size", "64",
                "--batch-size", "3", "--epochs", "2", "--seed", "3", "--device", "cpu", "--out", run], capsys)
    assert "per-image Dice" in out and "prompt none" in out
    ev = tmp_path / "ev"
    _cli(["evaluate", "--data", data, "--split", "val", "--model", run / "best.pt", "--seed", "3",
          "--device", "cpu", "--no-report", "--out", ev], capsys)
    m, rows = _assert_same_scores(run, ev)
    assert m["prompt"]["mode"] == "none" and m["training"]["recipe"] == "default"
    assert len(rows) == 6 and len({r["pred_area"] for r in rows}) > 1  # real, differing masks were scored
    # train wrote its report itself, with the protocol header of an evaluation plus the training's own rows
    assert f"report: {run / 'report.html'}" in out
    html = (run / "report.html").read_text()
    assert "dermaseg training run" in html and "Training curves" in html and "Run configuration" in html
    header = html.split("<table class='meta'>", 1)[1].split("</table>", 1)[0]
    for label, value in (("model", "unet-tiny"), ("dataset", f"isic2017 at {data.resolve()}"),
                         ("split", "the dataset&#x27;s own train/val splits"), ("images scored", "6"),
                         ("prompt", "none"), ("scored at", "original"), ("seed", "3"),
                         ("training images", "6 training, 6 validation"), ("training resolution", "64×64 (H×W)"),
                         ("training", "2 of 2 epochs, best epoch")):
        row = header.split(f"<th class='l'>{label}</th>", 1)[1].split("</tr>", 1)[0]
        assert value in row, (label, row)
    figures = sorted(p.name for p in (run / "figures").iterdir())
    assert {"cases.png", "contours.png", "training.png"} <= set(figures)
    # and `dermaseg report` re-renders the same report from the saved files
    (run / "report.html").unlink()
    _cli(["report", run], capsys)
    assert (run / "report.html").read_text().split("<table class='meta'>")[1] == html.split("<table class='meta'>")[1]


@pytest.mark.slow
def test_skinsam_train_reports_what_evaluate_measures_with_the_same_box(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DERMASEG_CACHE", str(tmp_path / "cache"))  # never the user's home
    data = write_dataset(tmp_path / "isic", "isic2017", n=6, size=(48, 64), seed=2)
    run = tmp_path / "run"
    out = _cli(["train", "--data", data, "--recipe", "skinsam", "--batch-size", "2", "--epochs", "1",
                "--seed", "4", "--device", "cpu", "--out", run], capsys)
    assert "prompt box" in out and "ground truth (SkinSAM jitter)" in out
    ev = tmp_path / "ev"
    _cli(["evaluate", "--data", data, "--split", "val", "--model", run / "best.pt", "--prompt", "box",
          "--seed", "4", "--device", "cpu", "--no-report", "--out", ev], capsys)
    m, rows = _assert_same_scores(run, ev)
    assert m["prompt"] == {"mode": "box", "source": "ground truth (SkinSAM jitter)"}
    assert m["model"]["name"] == "skinsam-litemedsam" and all(r["prompt"].startswith("box=") for r in rows)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("syn") / "folder", "folder", n=10, size=(64, 64), seed=1)
    return load_dataset(root)


def tiny(epochs=1, **kw):
    kw.setdefault("model", "unet-tiny")
    return get_recipe("default").override(input_size=(64, 64), batch_size=4, epochs=epochs, **kw)


def test_one_epoch_writes_the_run_folder(dataset, tmp_path):
    train, val = dataset.samples[:8], dataset.samples[8:]
    out = tmp_path / "run"
    summary = train_run(dataset, tiny(), out, train, val, "test", seed=0, progress=False)
    for name in ("config.json", "history.csv", "best.pt", "last.pt", "metrics.json", "per_image.csv"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert tuple(rows[0]) == HISTORY_COLUMNS and len(rows) == 1 and rows[0]["epoch"] == "1"
    assert 0.0 <= float(rows[0]["val_dice"]) <= 1.0 and float(rows[0]["train_loss"]) > 0
    # best.pt is a plain model file: create_model(path) rebuilds it with no other argument
    model = create_model(str(out / "best.pt"))
    assert model.config["name"] == "unet-tiny" and model.config["threshold"] == 0.5
    last = torch.load(out / "last.pt", weights_only=True)
    assert {"optimizer", "scheduler", "torch_rng", "epoch", "history"} <= set(last["training"])
    for k, v in model.state_dict().items():  # one epoch: the best checkpoint is the last one's weights
        assert torch.equal(v, last["state_dict"][k]), k
    assert model.eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    metrics = json.loads((out / "metrics.json").read_text())
    assert summary["val"]["n_images"] == metrics["summary"]["n"] == 2
    assert summary["val"]["per_image_mean"] == metrics["summary"]["per_image_mean"]
    assert metrics["model"]["requested"] == str(out / "best.pt") and summary["val"]["prompt_mode"] == "none"
    assert json.loads((out / "config.json").read_text())["n_train"] == 8


def test_resume_refuses_different_settings(dataset, tmp_path):
    train, val = dataset.samples[:8], dataset.samples[8:]
    train_run(dataset, tiny(), tmp_path / "r", train, val, "t", progress=False)
    with pytest.raises(DermasegError, match=r"different settings .*\(lr 0\.001 -> 0\.5\)"):
        train_run(dataset, tiny(lr=0.5), tmp_path / "r", train, val, "t", resume=True, progress=False)


def test_resume_ignores_a_recipes_name_and_notes(dataset, tmp_path):
    """A recipe renamed or re-documented between sessions (an alias, a new note) resumes its run: only the
    settings that change training must match."""
    train, val = dataset.samples[:8], dataset.samples[8:]
    train_run(dataset, tiny(), tmp_path / "r", train, val, "t", progress=False)
    summary = train_run(dataset, tiny(epochs=2, name="renamed", notes="new words"), tmp_path / "r", train, val,
                        "t", resume=True, progress=False)
    rows = list(csv.DictReader((tmp_path / "r" / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and summary["val"]["n_images"] == 2


def test_a_failed_run_leaves_no_run_folder(tmp_path):
    """An unreadable training image stops the run with one DataError naming it, and the run folder this
    call made is gone (no config.json, no empty folder left to resume from)."""
    from dermaseg.errors import DataError

    root = write_dataset(tmp_path / "f", "folder", n=6, size=(64, 64), seed=1)
    bad = root / "images" / "case_004.jpg"
    bad.write_bytes(bad.read_bytes()[:300])
    ds = load_dataset(root)
    out = tmp_path / "run"
    with pytest.raises(DataError, match="case_004.jpg"):
        train_run(ds, tiny(), out, ds.samples[:5], ds.samples[5:], "t", progress=False)
    assert not out.exists()
