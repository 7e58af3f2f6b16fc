"""``--int8``: dynamic int8 quantisation with onnxruntime.quantization.

Dynamic quantisation stores the weights of the chosen operators as int8 (per output channel) and
quantises their activations on the fly, per tensor, from each input's own range, so it needs no
calibration images and the result does not depend on a calibration set. Which operators, per graph
(:data:`INT8_PLAN`), was chosen by ``benchmarks/bench_onnx.py`` (README, "Export and ONNX Runtime"):

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

import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["INT8_PLAN", "quantize_graph"]

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
    return {"method": "onnxruntime.quantization.quantize_dynamic", "weights": "int8, per channel",
            "activations": "uint8, per tensor, range computed at run time", "op_types": list(op_types),
            "integer_nodes": n}
