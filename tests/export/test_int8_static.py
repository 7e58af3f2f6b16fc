"""``--backend onnx-int8`` on the bundled CNN is really integer: static QDQ from the shipped calibration,
int8 weights, QLinearConv once onnxruntime has fused the graph, and masks close to fp32 on real images."""

from __future__ import annotations

import collections

import numpy as np
import onnx
import pytest
from onnx import TensorProto

from dermaseg.export.quantize import CALIBRATION_DIR, STATIC_OPS


@pytest.mark.realdata
@pytest.mark.slow
def test_default_cnn_int8_is_integer_and_close_to_fp32(shared_data, tmp_path):
    import onnxruntime as ort

    from dermaseg.inference.predictor import load_predictor
    from dermaseg.io import read_image

    files = sorted((shared_data / "isic2017" / "ISIC-2017_Validation_Data").glob("*.jpg"))[:3]
    if len(files) < 3:
        pytest.skip("ISIC 2017 validation images not found")
    fp32 = load_predictor("default", backend="torch", threads=1)  # fp32 (one export fewer than onnx)
    int8 = load_predictor("default", backend="onnx-int8", threads=1)
    run = int8._runners[id(int8.model)]
    q = run.meta["quantization"]["graphs"]["model"]
    assert q["method"].startswith("onnxruntime.quantization.quantize_static") and q["op_types"] == list(STATIC_OPS)
    assert (CALIBRATION_DIR / q["calibration"]["file"]).is_file() and len(q["calibration"]["images"]) == 32
    assert all(n.startswith("ISIC_") for n in q["calibration"]["images"])  # training images, named

    graph = onnx.load(str(run.folder / "model.onnx")).graph
    ops = collections.Counter(n.op_type for n in graph.node)
    assert ops["QuantizeLinear"] > 50 and ops["DequantizeLinear"] > 100
    int8_weights = [t for t in graph.initializer if t.data_type == TensorProto.INT8 and len(t.dims) == 4]
    assert len(int8_weights) >= 50  # the convolutions' weights are stored as int8 (all but stem and head)
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "fused.onnx")
    ort.InferenceSession(str(run.folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    fused = collections.Counter(n.op_type for n in onnx.load(str(tmp_path / "fused.onnx")).graph.node)
    assert fused["QLinearConv"] >= 50 and fused["Conv"] <= 4  # onnxruntime runs integer convolutions

    for f in files:
        rgb = read_image(f)
        fp32.set_image(rgb)
        a = fp32.predict()
        int8.set_image(rgb)
        b = int8.predict()
        assert a.mask.any() and (a.mask & b.mask).sum() / (a.mask | b.mask).sum() > 0.95
        assert float(np.abs(a.prob - b.prob).mean()) < 0.02
