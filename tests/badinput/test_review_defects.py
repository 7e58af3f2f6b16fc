"""Command-line defects a bad-input trial found (issue 30): each now a one-line error, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ..clirun import run_cli_out_err


@pytest.fixture
def jpg(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)).save(p)
    return p


def _one_line_error(code, err, *needles):
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "\x1b[" not in err
    for n in needles:
        assert n in err, err


def test_empty_checkpoint_is_one_line(tmp_path, jpg, capsys):
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    code, _, err = run_cli_out_err(["segment", jpg, "--out", tmp_path / "o", "--model", "sam-vit-b",
                                    "--checkpoint", empty], capsys)
    _one_line_error(code, err, "empty.pth", "cannot load weights")


def test_legacy_pickle_and_onnx_as_model(tmp_path, jpg, capsys):
    import torch

    legacy = tmp_path / "legacy.pt"
    torch.save({"m": torch.nn.Linear(2, 2)}, legacy)
    code, _, err = run_cli_out_err(["segment", jpg, "--out", tmp_path / "o", "--model", legacy], capsys)
    _one_line_error(code, err, "legacy.pt", "pickled")
    assert "weights_only" not in err
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x08\x07\x12\x07pytorch" + b"\0" * 32)
    code, _, err = run_cli_out_err(["segment", jpg, "--out", tmp_path / "o", "--model", onnx], capsys)
    _one_line_error(code, err, "model.onnx", "--backend onnx")
    assert "Unpickling" not in err and not (tmp_path / "o" / "results.csv").exists()


@pytest.mark.parametrize("content", [{"version": 1, "format": "folder", "seed": 0, "k": 3, "test_fraction": 0,
                                      "folds": "abc"}, [1, 2], {"folds": 3}])
def test_data_split_over_a_wrong_typed_splits_file(tmp_path, capsys, content):
    from dermaseg.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "d", "folder", n=6, size=(32, 32))
    out = tmp_path / "splits.json"
    out.write_text(json.dumps(content))
    code, _, err = run_cli_out_err(["data", "split", root, "--folds", "3", "--out", out], capsys)
    assert "Traceback" not in err
    if code != 0:
        _one_line_error(code, err, "splits.json")
    assert json.loads(out.read_text()) == content or code == 0


def test_truncated_image_says_truncated(tmp_path):
    from dermaseg.errors import DataError
    from dermaseg.io import read_image

    p = tmp_path / "t.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.13)])
    with pytest.raises(DataError, match="truncated"):
        read_image(p)


def test_ph2_dev_dataset_is_checked_not_refused(capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ph2_dev"
    if not root.is_dir():
        pytest.skip("needs ../shared/data/ph2_dev")
    from dermaseg.data.layouts import folder

    folder._NOTED.clear()  # said once per process: say it again here
    code, out, err = run_cli_out_err(["data", "check", root], capsys)
    assert code == 0 and "100" in out and "error" not in err  # (the note itself: tests/data/layouts)


def test_help_keeps_brackets_and_unknown_recipe_suggests(tmp_path, capsys):
    code, out, _ = run_cli_out_err(["train", "--help"], capsys)
    assert code == 0 and "dermaseg[ray]" in " ".join(out.split()) and "unet-paper" in out
    from dermaseg.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "d", "folder", n=4, size=(32, 32))
    code, _, err = run_cli_out_err(["train", "--data", root, "--recipe", "unet-papr", "--out", tmp_path / "o"],
                                   capsys)
    _one_line_error(code, err, "did you mean 'unet-paper'?")


def test_report_title_names_the_run_not_its_staging_folder():
    from pathlib import Path

    from dermaseg.report.html import run_name

    assert run_name(Path("/r/.fold_0.stage.m3r4l_a_")) == "fold_0"
    assert run_name(Path("/r/my.run")) == "my.run"


@pytest.mark.slow
def test_part3_non_numeric_value_is_reported_by_evaluate_as_by_data_check(tmp_path, capsys):
    from dermaseg.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "isic", "isic2017", n=4, size=(48, 64))
    csvs = sorted(root.glob("*Part3_GroundTruth.csv"))
    lines = csvs[0].read_text().splitlines()
    first = lines[1].split(",")
    first[1] = "yes"
    lines[1] = ",".join(first)
    csvs[0].write_text("\n".join(lines) + "\n")
    code, out, _ = run_cli_out_err(["data", "check", root], capsys)
    assert "'yes' is not a number" in out
    code, _, err = run_cli_out_err(["evaluate", "--data", root, "--split", "all", "--out", tmp_path / "ev"],
                                   capsys)
    assert code == 0 and "metadata rows not used" in err and "'yes' is not a number" in err


@pytest.mark.slow
def test_evaluate_on_error_skip_reports_a_corrupt_image_and_goes_on(tmp_path, capsys):
    from dermaseg.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "d", "folder", n=3, size=(48, 64))
    bad = sorted((root / "images").iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:60])
    code, _, err = run_cli_out_err(["evaluate", "--data", root, "--out", tmp_path / "ev"], capsys)
    assert code == 0 and "warning: skipped:" in err and bad.name in err
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert len(m["sample"]["skipped"]) == 1 and m["dataset"]["count"] == 2
    code, _, err = run_cli_out_err(["evaluate", "--data", root, "--out", tmp_path / "ev2", "--on-error", "stop"],
                                   capsys)
    last = err.rstrip("\n").split("\r")[-1]  # after the progress bar
    assert code == 2 and last.startswith("error: ") and bad.name in last and "Traceback" not in err
    assert not (tmp_path / "ev2").exists()


def test_train_on_error_skip_trains_on_the_rest_and_stop_stops(tmp_path, capsys):
    from dermaseg.data.synthetic import write_dataset

    root = write_dataset(tmp_path / "d", "folder", n=6, size=(48, 64))
    bad = sorted((root / "images").iterdir())[0]
    bad.write_bytes(bad.read_bytes()[:60])  # truncated
    tiny = ["--recipe", "default", "--model", "unet-tiny", "--image-size", "32", "--batch-size", "2", "--epochs", "1"]
    code, _, err = run_cli_out_err(["train", "--data", root, "--out", tmp_path / "run", *tiny], capsys)
    assert code == 0, err
    assert "warning: skipped:" in err and bad.name in err and "1 of 6 image(s) could not be read" in err
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["n_train"] + cfg["n_val"] == 5
    code, _, err = run_cli_out_err(["train", "--data", root, "--out", tmp_path / "run2", "--on-error", "stop",
                                    *tiny], capsys)
    assert code == 2 and bad.name in err and "Traceback" not in err and not (tmp_path / "run2").exists()
