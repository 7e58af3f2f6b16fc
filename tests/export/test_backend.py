"""The Predictor's onnxruntime backend: masks equal the torch backend's (same pre- and post-processing,
only the network calls differ), int8 within a stated Dice of fp32, the per-model cache (exported once,
refused when a graph was modified), intra-op threads from ``threads``, and the one-line message when the
``onnx`` extra is missing."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from dermaseg.errors import DermasegError
from dermaseg.export import cache as cache_mod
from dermaseg.export.cache import cache_dir
from dermaseg.export.deps import INSTALL_HINT
from dermaseg.export.graphs import DEFAULT_OPSET
from dermaseg.export.metadata import METADATA_FILE
from dermaseg.inference.predictor import Predictor, load_predictor
from tests.export.conftest import tiny_cnn, tiny_sam

#: --int8 on the tiny models must keep masks within this Dice of fp32 (README states the real models' figures)
INT8_DICE = 0.95


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int((a & b).sum()) / s


def _same(a, b, prob_tol: float = 1e-4) -> None:
    assert a.prob.shape == b.prob.shape
    assert np.abs(a.prob - b.prob).max() < prob_tol
    assert _dice(a.mask, b.mask) >= 0.999
    assert a.prob.std() > 1e-3  # a real map, not a constant that would match anything


@pytest.mark.parametrize("tta", [False, True])
def test_cnn_onnx_equals_torch(images, tta):
    model = tiny_cnn()
    torch_p = Predictor(model, tta=tta, postprocess=False, threads=1)
    onnx_p = Predictor(model, tta=tta, postprocess=False, threads=1, backend="onnx")
    assert onnx_p.backend == "onnx" and onnx_p._runners[id(model)].name == "onnx"
    for rgb in images:
        torch_p.set_image(rgb)
        onnx_p.set_image(rgb)
        _same(torch_p.predict(), onnx_p.predict())
    for a, b in zip(torch_p.predict_batch(images), onnx_p.predict_batch(images), strict=True):  # batch of 4
        _same(a, b)


PROMPTS = {"box": dict(box=(12, 8, 70, 60)),
           "points": dict(points=[(40, 30), (5, 5)], point_labels=[1, 0]),
           "box+points": dict(box=(12, 8, 70, 60), points=[(40, 30)], point_labels=[1])}


@pytest.mark.parametrize("multimask", [True, False])
def test_sam_onnx_equals_torch(images, multimask):
    model = tiny_sam(multimask=multimask)
    torch_p = Predictor(model, threshold=0.4)
    onnx_p = Predictor(model, threshold=0.4, backend="onnx")
    for rgb in images:
        torch_p.set_image(rgb)
        onnx_p.set_image(rgb)
        for kind, kw in [*PROMPTS.items(), ("none", {})]:
            a, b = torch_p.predict(**kw), onnx_p.predict(**kw)
            _same(a, b)
            assert a.score == pytest.approx(b.score, abs=1e-4), kind
            assert a.source == b.source and a.box == b.box


def test_int8_within_tolerance_of_fp32(images):
    for model, kws in ((tiny_cnn(), [{}]), (tiny_sam(), list(PROMPTS.values()))):
        fp32 = Predictor(model, backend="onnx", threshold=0.4)
        int8 = Predictor(model, backend="onnx-int8", threshold=0.4)
        meta = int8._runners[id(model)].meta
        assert meta["int8"] is True and int8._runners[id(model)].int8
        for rgb in images:
            fp32.set_image(rgb)
            int8.set_image(rgb)
            for kw in kws:
                a, b = fp32.predict(**kw), int8.predict(**kw)
                assert _dice(a.mask, b.mask) >= INT8_DICE
    q = meta["quantization"]["graphs"]  # the SAM encoder's MatMuls became integer ops; its decoder stays float
    assert q["encoder"]["integer_nodes"] > 0 and q["encoder"]["op_types"] == ["MatMul"]
    assert q["decoder"] == {"method": "none: kept float32"}


def test_cache_exports_once_and_refuses_a_modified_graph(onnx_cache, monkeypatch):
    model = tiny_cnn()
    p = load_predictor(model, backend="onnx")
    folder = cache_dir(model)
    assert folder.parent == onnx_cache and folder.name.startswith("fpn-tiny-")
    assert (folder / "model.onnx").is_file() and p._runners[id(model)].folder == folder

    def no_export(*a, **k):
        raise AssertionError("exported again")

    real_export = cache_mod.export_model
    monkeypatch.setattr(cache_mod, "export_model", no_export)
    load_predictor(model, backend="onnx")  # second load: from the cache
    other = tiny_cnn(seed=1)  # other weights -> another folder
    assert cache_dir(other) != folder
    with pytest.raises(AssertionError, match="exported again"):
        load_predictor(other, backend="onnx")

    meta = json.loads((folder / METADATA_FILE).read_text())  # an older dermaseg's cache, at opset 18
    (folder / METADATA_FILE).write_text(json.dumps({**meta, "opset": 18}))
    with pytest.raises(AssertionError, match="exported again"):
        load_predictor(model, backend="onnx")
    monkeypatch.setattr(cache_mod, "export_model", real_export)
    load_predictor(model, backend="onnx")
    assert json.loads((folder / METADATA_FILE).read_text())["opset"] == DEFAULT_OPSET

    g = folder / "model.onnx"
    g.write_bytes(g.read_bytes() + b"\0")
    with pytest.raises(DermasegError, match=r"model.onnx: sha256 .* the file changed after export") as e:
        load_predictor(model, backend="onnx")
    assert "\n" not in str(e.value)


def test_threads_set_onnxruntime_intra_op(images):
    model = tiny_cnn()
    p = Predictor(model, backend="onnx", threads=1)
    sess = p._runners[id(model)].sessions["model"]
    assert sess.get_session_options().intra_op_num_threads == 1


def test_unknown_backend():
    with pytest.raises(DermasegError, match="--backend tensorrt: choose one of torch, onnx, onnx-int8"):
        load_predictor(tiny_cnn(), backend="tensorrt")


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_missing_extra_one_line(monkeypatch, missing):
    from dermaseg.export.onnx_export import export_model

    monkeypatch.setitem(sys.modules, missing, None)  # import fails as if not installed
    with pytest.raises(DermasegError) as e:
        export_model(tiny_cnn(), "unused")
    assert str(e.value) == f"dermaseg export needs {missing}, which is not installed: {INSTALL_HINT}"
    if missing == "onnxruntime":
        with pytest.raises(DermasegError) as e:
            load_predictor(tiny_cnn(), backend="onnx")
        assert str(e.value) == f"--backend onnx needs onnxruntime, which is not installed: {INSTALL_HINT}"
    assert load_predictor(tiny_cnn()).backend == "torch"  # torch needs neither
