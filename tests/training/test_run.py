"""One run's final validation is `dermaseg evaluate`: the numbers `train` reports equal, to 1e-6, those of
`dermaseg evaluate --model RUN/best.pt` on the same images (command line end to end, both read from JSON)."""

from __future__ import annotations

import csv
import json

import pytest

from dermaseg.cli import main
from dermaseg.data.synthetic import write_dataset

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
    # the report of the run renders from those files: the final validation and the training curves
    _cli(["report", run], capsys)
    html = (run / "report.html").read_text()
    assert "dermaseg training run" in html and "Training curves" in html


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
