"""``--int8``: int8 quantisation with onnxruntime.quantization: static QDQ for a calibrated CNN, else dynamic.

**Static (QDQ), the bundled CNN** (and any CNN whose weights have a calibration file in
``dermaseg/assets/int8/``): ``quantize_static`` inserts QuantizeLinear/DequantizeLinear pairs around the
convolutions and the ops between them (:data:`STATIC_OPS`), weights int8 per output channel, activations
uint8 per tensor with ranges (MinMax) measured once on a handful of ISIC 2017 *training* images by
``scripts/calibrate_int8.py``; the file ships those ranges (onnxruntime's calibration cache, a few tens of
KB), not the images, and names the images. onnxruntime then fuses the pairs into ``QLinearConv`` and
friends. The first convolution (the raw image) and the segmentation head (the logits) stay float
(:data:`STATIC_KEEP_FLOAT`). Measured in docs/speed.md: about 2x fp32 ONNX on one core, Jaccard within
0.002 of fp32 on ISIC 2017 validation.

**Dynamic** (everything else):

Dynamic quantisation stores the weights of the chosen operators as int8 (per output channel) and
quantises their activations on the fly, per tensor, from each input's own range, so it needs no
calibration images and the result does not depend on a calibration set. Which operators, per graph
(:data:`INT8_PLAN`), was chosen by ``benchmarks/bench_onnx.py`` (docs/onnx.md):

- SAM-family image encoder: ``MatMul`` (the attention and MLP layers of TinyViT / ViT, most of its time);
  its convolutions stay float (onnxruntime's dynamic ``ConvInteger`` is slower than its float
  convolution on CPUs).
- SAM-family prompt decoder: kept float32 (a few milliseconds per prompt, and the mask's edge is
  decided there).
- CNN: ``MatMul``/``Gemm`` only, which smp's U-Net/FPN hardly have: for a convolutional network int8
  changes little; we say so rather than pretend otherwise (``quantization.ops_quantized`` in the JSON
  counts what was quantised).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError

__all__ = ["INT8_PLAN", "quantize_graph", "quantize_static_graph", "calibration_file", "STATIC_OPS",
           "STATIC_KEEP_FLOAT", "CALIBRATION_DIR", "INT8_VERSION"]

#: bumped when what ``--int8`` makes changes (the ONNX cache re-exports older int8 folders)
INT8_VERSION = 2
#: operator types of the static QDQ plan of a CNN
STATIC_OPS = ("Conv", "Add", "Resize", "Clip", "Relu", "Concat")
#: convolutions kept float32 in the static plan, by their weight's name: the stem and the segmentation head
STATIC_KEEP_FLOAT = ("conv_stem", "segmentation_head")
CALIBRATION_DIR = Path(__file__).resolve().parents[1] / "assets" / "int8"

#: graph role -> operator types quantised by ``--int8`` (an empty tuple keeps the graph float32)
INT8_PLAN: dict[str, tuple[str, ...]] = {"model": ("MatMul", "Gemm"), "encoder": ("MatMul",), "decoder": ()}


def quantize_graph(src: str | os.PathLike, dst: str | os.PathLike, op_types: tuple[str, ...]) -> dict[str, Any]:
    """Quantise ``src`` into ``dst`` (dynamic, int8 weights per channel, ``op_types`` only). Returns a
    description for the metadata: method, operator types, and how many nodes became integer ops."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_dynamic(str(pre), str(dst), op_types_to_quantize=list(op_types), per_channel=True,
                         weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True})
    nodes = onnx.load(str(dst), load_external_data=False).graph.node
    n = sum(1 for node in nodes if node.op_type in ("MatMulInteger", "ConvInteger", "DynamicQuantizeLinear"))
    return {"method": "onnxruntime.quantization.quantize_dynamic", "version": INT8_VERSION,
            "weights": "int8, per channel",
            "activations": "uint8, per tensor, range computed at run time", "op_types": list(op_types),
            "integer_nodes": n}


def calibration_file(model_name: str, digest: str) -> Path | None:
    """The shipped calibration of a model (``<name>-<first 16 hex of weights sha256>.json``), or None."""
    path = CALIBRATION_DIR / f"{model_name}-{digest[:16]}.json"
    return path if path.is_file() else None


def _float_convs(graph_path: Path) -> list[str]:
    import onnx

    nodes = onnx.load(str(graph_path), load_external_data=False).graph.node
    return [n.name for n in nodes if n.op_type == "Conv" and any(k in n.input[1] for k in STATIC_KEEP_FLOAT)]


def preprocess_graph(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """onnxruntime's pre-processing before quantisation (shape inference, folding); calibration ranges are
    keyed by the tensor names of its output."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)


def static_quantize(pre: Path, dst: Path, cache: Path, reader: Any = None) -> None:
    """``quantize_static`` of a pre-processed graph with the plan above; ``cache`` is onnxruntime's
    calibration cache (read when it exists, else computed from ``reader`` and written)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                    op_types_to_quantize=list(STATIC_OPS), activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=_float_convs(pre),
                    calibration_cache_path=str(cache))


def quantize_static_graph(src: str | os.PathLike, dst: str | os.PathLike, calibration: Path) -> dict[str, Any]:
    """Static QDQ quantisation of a CNN graph ``src`` into ``dst`` with the shipped ``calibration``
    (module docstring). Returns its description for the metadata; a calibration that does not name this
    graph's tensors (another exporter's names) raises :class:`DermasegError`."""
    import onnx

    src, dst = Path(src), Path(dst)
    cal = json.loads(calibration.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(dir=dst.parent) as tmp:
        pre = Path(tmp) / "pre.onnx"
        preprocess_graph(src, pre)
        g = onnx.load(str(pre), load_external_data=False).graph
        names = {o for n in g.node for o in n.output} | {i.name for i in g.input}
        missing = [t for t in cal["tensor_names"] if t not in names]
        if missing:
            raise DermasegError(f"{calibration}: its ranges name tensors this graph lacks ({missing[0]}...); "
                                "re-run scripts/calibrate_int8.py with this torch/onnx version")
        cache = Path(tmp) / "calibration.json"
        cache.write_text(json.dumps(cal["ranges"]), encoding="utf-8")
        static_quantize(pre, dst, cache)
    nodes = onnx.load(str(dst), load_external_data=False).graph.node
    return {"method": "onnxruntime.quantization.quantize_static (QDQ)", "version": INT8_VERSION,
            "weights": "int8, per channel", "activations": "uint8, per tensor, MinMax ranges from calibration",
            "op_types": list(STATIC_OPS), "kept_float": list(STATIC_KEEP_FLOAT),
            "calibration": {"file": calibration.name, "images": cal["images"], "source": cal["source"]},
            "integer_nodes": sum(1 for n in nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear")) // 2}
