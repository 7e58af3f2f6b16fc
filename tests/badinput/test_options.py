"""Bad-input catalogue, options: --out that cannot be written (an existing file, below a file, a dangling
symlink, an over-long name, a read-only folder, the input folder), unknown or corrupt model files, device
strings, training numbers (zero/negative/NaN/inf), recipes, evaluation choices, splits.json of the wrong
shape, a corrupt run folder for `report`. Each is refused with one line naming the option or file, exit 2,
before anything is written, inputs unchanged."""

from __future__ import annotations

import os
import pickle
import shutil

import pytest

from dermaseg.data.synthetic import write_dataset

from .harness import assert_refused, run_cli, snapshot

ROOT = os.geteuid() == 0 if hasattr(os, "geteuid") else False


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("opt") / "ds", "folder", n=4, size=(48, 64), labels=True)


def _fresh_out(tmp_path, kind):
    """An --out of ``kind`` under tmp_path: (path, what the message must name)."""
    if kind == "existing-file":
        p = tmp_path / "taken"
        p.write_text("mine\n")
    elif kind == "below-a-file":
        (tmp_path / "afile").write_text("mine\n")
        p = tmp_path / "afile" / "out"
    elif kind == "dangling-symlink":
        p = tmp_path / "link"
        p.symlink_to(tmp_path / "nowhere" / "target")
    elif kind == "over-long-name":
        p = tmp_path / ("n" * 300)
    elif kind == "read-only-folder":
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        p = ro / "out"
    else:
        raise ValueError(kind)
    return p


DIR_OUTS = ["existing-file", "below-a-file", "dangling-symlink", "over-long-name", "read-only-folder"]
DIR_COMMANDS = {
    "evaluate": lambda ds, out: ["evaluate", "--data", ds, "--out", out, "--no-report"],
    "train": lambda ds, out: ["train", "--data", ds, "--out", out, "--epochs", "1", "--image-size", "32"],
    "segment": lambda ds, out: ["segment", ds / "images" / "case_000.jpg", "--out", out],
}
FILE_OUTS = ["existing-folder", "below-a-file", "over-long-name", "read-only-folder"]
FILE_COMMANDS = {
    "measure": lambda ds, out: ["measure", "--data", ds, "--out", out],
    "data-split": lambda ds, out: ["data", "split", ds, "--folds", "2", "--out", out],
}


@pytest.mark.parametrize("kind", DIR_OUTS)
@pytest.mark.parametrize("command", list(DIR_COMMANDS))
def test_out_folder_that_cannot_be_written(ds, tmp_path, capsys, command, kind):
    if kind == "read-only-folder" and ROOT:
        pytest.skip("root writes into read-only folders")
    out = _fresh_out(tmp_path, kind)
    before = snapshot(ds, tmp_path)
    o = run_cli(DIR_COMMANDS[command](ds, out), capsys)
    assert_refused(o, [str(out), str(out.parent), "--out"])
    assert snapshot(ds, tmp_path) == before, "an input changed or partial output left"


@pytest.mark.parametrize("kind", FILE_OUTS)
@pytest.mark.parametrize("command", list(FILE_COMMANDS))
def test_out_file_that_cannot_be_written(ds, tmp_path, capsys, command, kind):
    if kind == "read-only-folder" and ROOT:
        pytest.skip("root writes into read-only folders")
    if kind == "existing-folder":
        out = tmp_path / "adir"
        out.mkdir()
    else:
        out = _fresh_out(tmp_path, kind)
    before = snapshot(ds, tmp_path)
    o = run_cli(FILE_COMMANDS[command](ds, out), capsys)
    assert_refused(o, [str(out), str(out.parent), "--out"])
    assert snapshot(ds, tmp_path) == before


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_out_is_the_dataset_folder(ds, tmp_path, capsys, command):
    data = shutil.copytree(ds, tmp_path / "ds")
    before = snapshot(data)
    o = run_cli(DIR_COMMANDS[command](data, data), capsys)
    assert_refused(o, [str(data), "--out"])
    assert snapshot(data) == before


# ---- model files -------------------------------------------------------------------------------------------

def _model_file(path, kind):
    import torch

    good_config = {"name": "fpn-mobilenet_v2"}
    blobs = {
        "missing-config": {"state_dict": {}},
        "config-a-string": {"config": "fpn-mobilenet_v2", "state_dict": {}},
        "config-a-list": {"config": [1, 2], "state_dict": {}},
        "config-unknown-model": {"config": {"name": "no-such-model"}, "state_dict": {}},
        "config-name-not-text": {"config": {"name": 7}, "state_dict": {}},
        "missing-state-dict": {"config": good_config},
        "state-dict-a-list": {"config": good_config, "state_dict": [1, 2, 3]},
        "state-dict-wrong-keys": {"config": good_config, "state_dict": {"x.weight": torch.zeros(2)}},
        "state-dict-wrong-values": {"config": good_config, "state_dict": {"x.weight": "text"}},
        "a-tensor": torch.zeros(3),
    }
    if kind in blobs:
        torch.save(blobs[kind], path)
    elif kind == "unpickling-error":  # an object torch's safe loader refuses
        torch.save({"config": good_config, "state_dict": {}, "extra": {"x": pickle.PickleError("x")}}, path)
    elif kind == "garbage":
        path.write_bytes(os.urandom(3000))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("config: fpn\n")
    elif kind == "a-folder":
        path.mkdir()
    else:
        raise ValueError(kind)
    return path


MODEL_KINDS = ["missing-config", "config-a-string", "config-a-list", "config-unknown-model",
               "config-name-not-text", "missing-state-dict", "state-dict-a-list", "state-dict-wrong-keys",
               "state-dict-wrong-values", "a-tensor", "unpickling-error", "garbage", "empty", "text", "a-folder"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("command", ["evaluate", "segment"])
def test_corrupt_model_file(ds, tmp_path, capsys, command, kind):
    model = _model_file(tmp_path / "model.pt", kind)
    before = snapshot(ds, model)
    o = run_cli([*DIR_COMMANDS[command](ds, tmp_path / "out"), "--model", model], capsys)
    assert_refused(o, str(model))
    assert not (tmp_path / "out").exists()
    assert snapshot(ds, model) == before


@pytest.mark.parametrize("kind", ["empty", "garbage", "missing"])
@pytest.mark.parametrize("command", ["evaluate", "segment"])
def test_bad_sam_checkpoint(ds, tmp_path, capsys, command, kind):
    ckpt = tmp_path / "sam_vit_b_01ec64.pth"
    if kind != "missing":
        _model_file(ckpt, kind)
    o = run_cli([*DIR_COMMANDS[command](ds, tmp_path / "out"), "--model", "sam-vit-b", "--checkpoint", ckpt,
                 *(["--prompt", "box"] if command == "evaluate" else ["--box", "5,5,40,30"])], capsys)
    assert_refused(o, [str(ckpt), "--checkpoint"])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model", ["no-such-model", "fpn-", "unet-no-such-encoder", ""])
def test_unknown_model_name(ds, tmp_path, capsys, model):
    o = run_cli([*DIR_COMMANDS["evaluate"](ds, tmp_path / "out"), "--model", model], capsys)
    assert_refused(o, ["model", "--model"])
    assert not (tmp_path / "out").exists()


# ---- devices ----------------------------------------------------------------------------------------------

DEVICES = ["cuda", "cuda:7", "tpu", "cpu:x", "cuda:-1", "gpu", "mps"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_bad_device(ds, tmp_path, capsys, command, device):
    import torch

    if device.startswith("cuda") and device != "cuda:-1" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if device == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    o = run_cli([*DIR_COMMANDS[command](ds, tmp_path / "out"), "--device", device], capsys)
    assert_refused(o, [device, "--device"])
    assert not (tmp_path / "out").exists()


# ---- training numbers, recipes ----------------------------------------------------------------------------

TRAIN_BAD = {
    "epochs-0": ["--epochs", "0"],
    "epochs-negative": ["--epochs", "-1"],
    "batch-0": ["--batch-size", "0"],
    "batch-negative": ["--batch-size", "-4"],
    "lr-0": ["--lr", "0"],
    "lr-negative": ["--lr", "-0.001"],
    "lr-nan": ["--lr", "nan"],
    "lr-inf": ["--lr", "inf"],
    "lr-minus-inf": ["--lr", "-inf"],
    "lr-text": ["--lr", "fast"],
    "folds-1": ["--folds", "1"],
    "folds-negative": ["--folds", "-2"],
    "fold-beyond-folds": ["--folds", "2", "--fold", "5"],
    "image-size-0": ["--image-size", "0"],
    "limit-0": ["--limit", "0"],
    "workers-negative": ["--workers", "-1"],
    "recipe-unknown": ["--recipe", "no-such-recipe"],
    "recipe-default-sam-model": ["--recipe", "default", "--model", "litemedsam"],
    "model-unknown": ["--model", "no-such-model"],
    "loss-unknown": ["--loss", "hinge"],
    "optimizer-unknown": ["--optimizer", "lbfgs"],
    "format-unknown": ["--format", "coco"],
}


@pytest.mark.parametrize("case", list(TRAIN_BAD))
def test_bad_training_option(ds, tmp_path, capsys, case):
    args = TRAIN_BAD[case]
    before = snapshot(ds)
    o = run_cli(["train", "--data", ds, "--out", tmp_path / "run", "--image-size", "32", "--epochs", "1", *args],
                capsys)
    assert_refused(o, [args[-2], args[-2].lstrip("-"), args[-1]])
    assert not (tmp_path / "run").exists(), "a refused run left its folder"
    assert snapshot(ds) == before


EVAL_BAD = {
    "prompt-unknown": ["--prompt", "lasso"],
    "split-unknown": ["--split", "holdout"],
    "limit-mode-unknown": ["--limit-mode", "random"],
    "format-unknown": ["--format", "coco"],
    "limit-0": ["--limit", "0"],
    "box-prompt-to-a-cnn": ["--prompt", "box"],
    "auto-unknown": ["--auto", "magic"],
}


@pytest.mark.parametrize("case", list(EVAL_BAD))
def test_bad_evaluate_option(ds, tmp_path, capsys, case):
    args = EVAL_BAD[case]
    o = run_cli(["evaluate", "--data", ds, "--out", tmp_path / "out", "--no-report", *args], capsys)
    assert_refused(o, [args[-2], args[-2].lstrip("-"), args[-1]])
    assert not (tmp_path / "out").exists()


# ---- splits.json, report ----------------------------------------------------------------------------------

SPLITS_BAD = {
    "a-list": "[]\n",
    "empty-object": "{}\n",
    "folds-a-number": '{"folds": 3}\n',
    "not-json": "folds: 3\n",
    "binary": "\x00\xff\xfe",
    "unknown-ids": '{"k": 2, "seed": 0, "folds": [["nope"], ["never"]], "test": []}\n',
}


@pytest.mark.parametrize("case", list(SPLITS_BAD))
def test_splits_json_of_the_wrong_shape(ds, tmp_path, capsys, case):
    path = tmp_path / "splits.json"
    path.write_bytes(SPLITS_BAD[case].encode("utf-8", "surrogateescape") if case != "binary" else b"\x00\xff\xfe")
    before = snapshot(ds, path)
    o = run_cli(["data", "split", ds, "--folds", "2", "--out", path], capsys)
    assert_refused(o, str(path))
    assert snapshot(ds, path) == before


REPORT_BAD = {
    "not-json": ("metrics.json", b"{not json"),
    "a-list": ("metrics.json", b"[1, 2]"),
    "empty": ("metrics.json", b""),
    "not-utf8": ("metrics.json", b"\xff\xfe{\x00}"),
    "missing-keys": ("metrics.json", b'{"model": "x"}'),
    "wrong-types": ("metrics.json", b'{"n_images": "many", "per_image_mean": [], "pooled": 3}'),
    "history-garbage": ("history.csv", b"\x00\x01\x02garbage"),
    "cv-table-garbage": ("cv_table.csv", b"fold,dice\n1,abc,extra\n"),
}


@pytest.mark.parametrize("case", list(REPORT_BAD))
def test_report_of_a_corrupt_run(tmp_path, capsys, case):
    name, data = REPORT_BAD[case]
    run = tmp_path / "run"
    run.mkdir()
    (run / name).write_bytes(data)
    before = snapshot(run)
    o = run_cli(["report", run], capsys)
    assert_refused(o, [str(run / name), str(run)])
    assert snapshot(run) == before, "report wrote into a run it refused"


@pytest.mark.parametrize("case", ["missing", "a-file", "empty-folder"])
def test_report_of_no_run(tmp_path, capsys, case):
    run = tmp_path / "run"
    if case == "a-file":
        run.write_text("x")
    elif case == "empty-folder":
        run.mkdir()
    o = run_cli(["report", run], capsys)
    assert_refused(o, str(run))
