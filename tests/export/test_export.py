"""``export_model``: the graphs and every field of ``dermaseg_onnx.json``, read back from the files, and
the graphs' outputs against the torch model's on the same inputs (CNN with a dynamic batch; the SAM
decoder in segment-anything's convention for box, points, box+points and no prompt)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from dermaseg import __version__
from dermaseg.errors import DermasegError
from dermaseg.export.graphs import DECODER_INPUTS, DECODER_OUTPUTS
from dermaseg.export.metadata import METADATA_FILE, REQUIRED_FIELDS, read_metadata
from dermaseg.export.onnx_export import export_model, weights_sha256
from dermaseg.export.runtime import prompt_points
from tests.export.conftest import tiny_cnn, tiny_sam


def _sha(p) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_cnn_export_graph_and_metadata(tmp_path):
    model = tiny_cnn()
    out = tmp_path / "cnn"
    meta = export_model(model, out, source="fpn-tiny")
    assert sorted(p.name for p in out.iterdir()) == [METADATA_FILE, "model.onnx"]
    assert json.loads((out / METADATA_FILE).read_text()) == meta == read_metadata(out)
    assert set(REQUIRED_FIELDS) <= set(meta)
    assert (meta["format"], meta["format_version"], meta["model"], meta["source"]) == (
        "dermaseg-onnx", 1, "fpn-tiny", "fpn-tiny")
    assert meta["family"] == "cnn" and meta["opset"] == 20 and meta["int8"] is False and meta["quantization"] is None
    assert meta["dermaseg_version"] == __version__ and meta["torch_version"] == torch.__version__
    assert meta["weights_sha256"] == weights_sha256(model)
    assert meta["threshold"] == 0.5 and meta["input_size"] == [64, 96]
    norm = meta["preprocess"]["normalization"]
    assert norm["kind"] == "mean_std" and norm["mean"] == list(model.mean) and norm["std"] == list(model.std)
    assert meta["files"] == {"model.onnx": _sha(out / "model.onnx")}
    g = meta["graphs"]["model"]
    assert g["file"] == "model.onnx" and g["sha256"] == _sha(out / "model.onnx")
    (i,), (o,) = g["inputs"], g["outputs"]
    assert (i["name"], i["type"], i["shape"][1:]) == ("image", "float32", [3, 64, 96]) and isinstance(i["shape"][0], str)
    assert (o["name"], o["type"], o["shape"][1:]) == ("logits", "float32", [1, 64, 96]) and o["shape"][0] == i["shape"][0]
    x = torch.randn(3, 3, 64, 96)  # exported with a batch of 2: the batch is dynamic
    (got,) = _session(out / "model.onnx").run(None, {"image": x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (3, 1, 64, 96) and np.abs(got - want).max() < 1e-4


def test_sam_export_graphs_and_metadata(tmp_path):
    model = tiny_sam()
    out = tmp_path / "sam"
    meta = export_model(model, out)
    assert sorted(meta["files"]) == ["decoder.onnx", "encoder.onnx"]
    for name, digest in meta["files"].items():
        assert digest == _sha(out / name) == meta["graphs"][name.split(".")[0]]["sha256"]
    assert meta["family"] == "sam" and meta["model"] == "tiny-sam" and meta["encoder_side"] == 64
    assert meta["low_res_size"] == 64 and meta["multimask_default"] is True
    assert meta["mask_outputs"]["single"] == [0] and meta["mask_outputs"]["multimask"] == [1, 2, 3]
    assert meta["preprocess"]["padding"] == "bottom-right, zeros"
    assert meta["preprocess"]["normalization"]["mean"] == pytest.approx([123.675, 116.28, 103.53])
    enc, dec = meta["graphs"]["encoder"], meta["graphs"]["decoder"]
    assert enc["inputs"] == [{"name": "image", "type": "float32", "shape": [1, 3, 64, 64]}]
    assert enc["outputs"] == [{"name": "image_embeddings", "type": "float32", "shape": [1, 32, 16, 16]}]
    assert [d["name"] for d in dec["inputs"]] == list(DECODER_INPUTS)
    assert [d["name"] for d in dec["outputs"]] == list(DECODER_OUTPUTS)
    coords = dec["inputs"][1]["shape"]
    assert coords[0] == 1 and coords[2] == 2 and isinstance(coords[1], str)
    assert dec["outputs"][0]["shape"] == [1, 4, 64, 64] and dec["outputs"][1]["shape"] == [1, 4]

    ops = [n.op_type for n in onnx.load(str(out / "encoder.onnx")).graph.node]
    assert "Gelu" in ops and "Erf" not in ops  # opset 20: one fused GELU node, not Div/Erf/Add/Mul/Mul

    x = torch.randn(1, 3, 64, 64)
    (emb,) = _session(out / "encoder.onnx").run(None, {"image": x.numpy()})
    with torch.no_grad():
        want_emb = model.encode(x)
    assert np.abs(emb - want_emb.numpy()).max() < 1e-4
    decoder = _session(out / "decoder.onnx")
    prompts = {"box": dict(boxes=torch.tensor([[8.0, 6.0, 50.0, 40.0]])),
               "points": dict(points=torch.tensor([[[30.0, 20.0], [5.0, 60.0]]]), labels=torch.tensor([[1, 0]])),
               "box+points": dict(boxes=torch.tensor([[8.0, 6.0, 50.0, 40.0]]), points=torch.tensor([[[30.0, 20.0]]]),
                                  labels=torch.tensor([[1]])),
               "none": {}}
    for kind, p in prompts.items():
        coords, labels = prompt_points(p.get("boxes"), p.get("points"), p.get("labels"))
        low, iou = decoder.run(None, {"image_embeddings": emb, "point_coords": coords, "point_labels": labels,
                                      "mask_input": np.zeros((1, 1, 64, 64), np.float32),
                                      "has_mask_input": np.zeros(1, np.float32)})
        for multi, sl in ((False, slice(0, 1)), (True, slice(1, 4))):
            with torch.no_grad():
                wl, wi = model.decode(want_emb, multimask=multi, **p)
            assert np.abs(low[:, sl] - wl.numpy()).max() < 1e-4, (kind, multi)
            assert np.abs(iou[:, sl] - wi.numpy()).max() < 1e-4, (kind, multi)


def test_prompt_points_follow_segment_anything():
    """Points first, then the box's corners labelled 2 and 3; a padding point labelled -1 without a box."""
    c, lab = prompt_points(np.array([[1, 2, 3, 4]]), np.array([[[5, 6]]]), np.array([[0]]))
    assert c.tolist() == [[[5, 6], [1, 2], [3, 4]]] and lab.tolist() == [[0, 2, 3]]
    c, lab = prompt_points(None, np.array([[[5, 6]]]), np.array([[1]]))
    assert c.tolist() == [[[5, 6], [0, 0]]] and lab.tolist() == [[1, -1]]
    c, lab = prompt_points(None, None, None)
    assert c.shape == (1, 0, 2) and lab.shape == (1, 0)


def test_minmax_family_and_single_mask(tmp_path):
    meta = export_model(tiny_sam(multimask=False, normalization="minmax"), tmp_path / "m")
    assert meta["preprocess"]["normalization"]["kind"] == "minmax" and meta["mask_outputs"]["use"] == "single"


def test_export_refuses_bad_targets(tmp_path):
    f = tmp_path / "file"
    f.write_text("keep")
    with pytest.raises(DermasegError, match="exists and is not a folder"):
        export_model(tiny_cnn(), f)
    assert f.read_text() == "keep"
    with pytest.raises(DermasegError, match="--opset 9"):
        export_model(tiny_cnn(), tmp_path / "o", opset=9)
    assert not (tmp_path / "o").exists() and [p.name for p in tmp_path.iterdir()] == ["file"]
