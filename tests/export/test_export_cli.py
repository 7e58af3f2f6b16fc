"""``dermaseg export`` and ``dermaseg segment --backend onnx`` end to end through the CLI: a trained-model
file exported and described, bad options refused in one line with nothing written, and segment's masks
with ``--backend onnx`` equal to ``--backend torch``'s."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import make_image
from dermaseg.export.deps import INSTALL_HINT
from dermaseg.models.files import save_model
from tests.clirun import run_cli_out_err as _run
from tests.export.conftest import tiny_cnn


@pytest.fixture()
def model_file(tmp_path):
    f = tmp_path / "tiny.pt"
    save_model(tiny_cnn(), f)
    return f


def test_export_cli_writes_graph_and_json(model_file, tmp_path, capsys):
    out = tmp_path / "exp"
    code, stdout, err = _run(["export", "--model", model_file, "--format", "onnx", "--out", out], capsys)
    assert code == 0, err
    assert f"wrote {out}: model.onnx" in stdout and "dermaseg_onnx.json" in stdout
    meta = json.loads((out / "dermaseg_onnx.json").read_text())
    assert meta["model"] == "fpn-tiny" and meta["source"] == str(model_file) and meta["int8"] is False
    assert sorted(p.name for p in out.iterdir()) == ["dermaseg_onnx.json", "model.onnx"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]  # no temporary folder left


@pytest.mark.parametrize("args, message", [
    (["--model", "no-such-model"], "no-such-model"),
    (["--model", "MODEL", "--format", "tflite"], "--format tflite: only onnx is supported"),
    (["--model", "MODEL", "--out", "FILE"], "exists and is not a folder"),
    (["--model", "MODEL", "--opset", "7"], "--opset 7: choose an opset between 18 and"),
])
def test_export_cli_bad_input_one_line(model_file, tmp_path, capsys, args, message):
    f = tmp_path / "FILE"
    f.write_text("keep")
    argv = ["export", "--out", tmp_path / "exp", *[str(model_file) if a == "MODEL" else f if a == "FILE" else a
                                                    for a in args]]
    code, stdout, err = _run(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert f.read_text() == "keep" and not (tmp_path / "exp").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "tiny.pt"]


def test_export_cli_missing_extra(model_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    code, _, err = _run(["export", "--model", model_file, "--out", tmp_path / "exp"], capsys)
    assert code == 2 and err == f"error: dermaseg export needs onnx, which is not installed: {INSTALL_HINT}\n"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    code, _, err = _run(["segment", model_file, "--out", tmp_path / "seg", "--backend", "onnx"], capsys)
    assert code == 2 and err == f"error: --backend onnx needs onnxruntime, which is not installed: {INSTALL_HINT}\n"
    assert not (tmp_path / "exp").exists() and not (tmp_path / "seg").exists()


def test_segment_backend_onnx_writes_the_torch_masks(model_file, tmp_path, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    for name, (h, w), seed in (("a", (72, 96), 1), ("b", (96, 64), 2), ("c", (150, 200), 3)):
        Image.fromarray(make_image(h, w, seed=seed)[0]).save(d / f"{name}.png")
    outs = {}
    for backend in ("torch", "onnx"):
        outs[backend] = tmp_path / backend
        code, _, err = _run(["segment", d, "--out", outs[backend], "--model", model_file, "--backend", backend,
                             "--no-postprocess"], capsys)
        assert code == 0, err
    for name in "abc":
        a = np.asarray(Image.open(outs["torch"] / f"{name}_mask.png")) > 0
        b = np.asarray(Image.open(outs["onnx"] / f"{name}_mask.png")) > 0
        assert a.shape == b.shape and (a == b).mean() >= 0.999
        pa = np.asarray(Image.open(outs["torch"] / f"{name}_prob.png"), np.int16)
        pb = np.asarray(Image.open(outs["onnx"] / f"{name}_prob.png"), np.int16)
        assert np.abs(pa - pb).max() <= 1 and pa.std() > 1  # probability × 255, rounding apart
    code, _, err = _run(["segment", d, "--out", tmp_path / "x", "--model", model_file, "--backend", "tvm"], capsys)
    assert code == 2 and "--backend tvm: choose one of torch, onnx, onnx-int8" in err and not (tmp_path / "x").exists()


def test_evaluate_backend_onnx_scores_as_torch(model_file, tmp_path, capsys):
    from dermaseg.data.synthetic import write_dataset

    root = tmp_path / "data"
    write_dataset(root, "folder", n=4, size=(72, 96))
    metrics = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"ev-{backend}"
        code, _, err = _run(["evaluate", "--data", root, "--model", model_file, "--out", out, "--backend", backend,
                             "--no-report"], capsys)
        assert code == 0, err
        metrics[backend] = json.loads((out / "metrics.json").read_text())
    assert metrics["onnx"]["model"]["backend"] == "onnx" and metrics["torch"]["model"]["backend"] == "torch"
    a, b = metrics["torch"]["summary"]["per_image_mean"], metrics["onnx"]["summary"]["per_image_mean"]
    assert a.keys() == b.keys() and "dice" in a
    for k in a:
        assert a[k]["mean"] == pytest.approx(b[k]["mean"], abs=1e-3), k


def test_cli_default_opset_is_the_library_default():
    import inspect

    from dermaseg.cli import export_cmd
    from dermaseg.export.graphs import DEFAULT_OPSET

    assert inspect.signature(export_cmd).parameters["opset"].default.default == DEFAULT_OPSET
