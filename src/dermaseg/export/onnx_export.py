"""``dermaseg export --format onnx``: a model's graphs and the JSON that describes them, written atomically.

A CNN becomes ``model.onnx``; a SAM-family model ``encoder.onnx`` and ``decoder.onnx``
(:mod:`dermaseg.export.graphs` says what goes in and out). ``dermaseg_onnx.json`` beside them
(:mod:`dermaseg.export.metadata`) says how to prepare an image and read the output without dermaseg.
With ``int8`` the graphs are quantised (:mod:`dermaseg.export.quantize`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dermaseg import __version__
from dermaseg.errors import DermasegError
from dermaseg.export.deps import require_export
from dermaseg.export.graphs import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    DEFAULT_OPSET,
    MIN_OPSET,
    NUM_MASK_OUTPUTS,
    SamDecoderGraph,
    SamEncoderGraph,
    export_graph,
)
from dermaseg.export.metadata import FORMAT, FORMAT_VERSION, METADATA_FILE, graph_io
from dermaseg.export.quantize import (
    INT8_PLAN,
    INT8_VERSION,
    calibration_file,
    quantize_graph,
    quantize_static_graph,
)
from dermaseg.inference.postprocess import DEFAULT_RULE, DEFAULT_THRESHOLD
from dermaseg.models.base import CNNSegmenter, PromptableSegmenter
from dermaseg.models.registry import create_model
from dermaseg.models.weights import sha256_file

__all__ = ["export_model", "export_cli", "weights_sha256", "family_of", "FORMATS"]

FORMATS = ("onnx",)


def family_of(model: Any) -> str:
    """``"cnn"`` or ``"sam"``; anything else cannot be exported."""
    if isinstance(model, PromptableSegmenter) and hasattr(model, "prompt_encoder") and hasattr(model, "preprocess"):
        return "sam"
    if isinstance(model, CNNSegmenter):
        return "cnn"
    raise DermasegError(f"model '{getattr(model, 'config', {}).get('name', type(model).__name__)}' cannot be "
                        "exported: neither a CNN nor a SAM-family model")


def weights_sha256(model: Any) -> str:
    """sha256 of what the exported graphs depend on: the model's class, its input geometry and
    normalisation, and every tensor of its state dict (name, dtype, shape, bytes)."""
    import torch

    h = hashlib.sha256()
    geometry = {"class": type(model).__name__, "input_size": getattr(model, "input_size", None),
                "mean": getattr(model, "mean", None), "std": getattr(model, "std", None),
                "image_size": getattr(model, "image_size", None),
                "normalization": getattr(model, "normalization", None)}
    h.update(json.dumps(geometry, sort_keys=True, default=str).encode())
    for k, v in model.state_dict().items():
        t = v.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{k}|{t.dtype}|{tuple(v.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy())
    return h.hexdigest()


def _cpu_eval(model: Any) -> Any:
    """The model in eval mode on the CPU (a copy when it lives elsewhere, so the caller's stays put)."""
    p = next(iter(model.parameters()), None)
    if p is not None and p.device.type != "cpu":
        model = copy.deepcopy(model).to("cpu")
    return model.eval()


def _resize_rule() -> str:
    return ("OpenCV cv2.resize, INTER_AREA when the image shrinks in both directions, else INTER_LINEAR "
            "(dermaseg.data.transforms.resize_image)")


def _cnn(model: Any, folder: Path, opset: int) -> tuple[dict[str, str], dict[str, Any]]:
    import torch

    h, w = model.input_size
    batch = torch.export.Dim("batch", min=1, max=4096)
    export_graph(model, (torch.randn(2, 3, h, w),), folder / "model.onnx", ["image"], ["logits"],
                 dynamic_shapes=({0: batch},), opset=opset)
    info = {
        "input_size": [h, w],
        "preprocess": {"steps": [
            "RGB uint8 H×W×3 image", f"resize to {h}×{w} (H×W): {_resize_rule()}",
            "x = (rgb / 255 - mean) / std, per channel", "H×W×3 -> 3×H×W, stack a batch B×3×H×W float32"],
            "input_size": [h, w], "resize": _resize_rule(),
            "normalization": {"kind": "mean_std", "scale": 1 / 255, "mean": list(model.mean), "std": list(model.std)}},
        "postprocess": {"steps": [
            "probability = sigmoid(logits)", "resize B×1×h×w back to the image's H×W (bilinear, "
            "align_corners=False; torch.nn.functional.interpolate)", "mask = probability > threshold",
            "dermaseg then keeps one 8-connected component and fills its holes (postprocess_rule)"],
            "postprocess_rule": str(model.config.get("postprocess_rule", DEFAULT_RULE)),
            "tta": bool(model.config.get("tta", False))},
    }
    return {"model": "model.onnx"}, info


def _sam(model: Any, folder: Path, opset: int) -> tuple[dict[str, str], dict[str, Any]]:
    import torch

    s = int(model.image_size)
    export_graph(SamEncoderGraph(model), (torch.randn(1, 3, s, s),), folder / "encoder.onnx", ["image"],
                 ["image_embeddings"], opset=opset)
    pe = model.prompt_encoder
    eh, ew = (int(v) for v in pe.image_embedding_size)
    n = torch.export.Dim("num_points", min=1, max=1024)
    args = (torch.randn(1, int(pe.embed_dim), eh, ew), torch.tensor([[[10.0, 20.0], [30.0, 40.0], [0.0, 0.0]]]),
            torch.tensor([[1.0, 2.0, 3.0]]), torch.zeros(1, 1, 4 * eh, 4 * ew), torch.zeros(1))
    export_graph(SamDecoderGraph(model), args, folder / "decoder.onnx", DECODER_INPUTS, DECODER_OUTPUTS,
                 dynamic_shapes=({}, {1: n}, {1: n}, {}, {}), opset=opset)
    norm = ({"kind": "minmax", "formula": "(x - x.min()) / max(x.max() - x.min(), 1e-8) over the whole resized image, "
             "all channels together, on the 0..255 scale"} if model.normalization == "minmax" else
            {"kind": "mean_std", "scale": 1.0, "mean": [float(v) for v in model.pixel_mean.flatten()],
             "std": [float(v) for v in model.pixel_std.flatten()]})
    multi = bool(getattr(model, "multimask_default", True))
    info = {
        "encoder_side": s, "low_res_size": 4 * eh, "multimask_default": multi,
        "preprocess": {"steps": [
            "RGB uint8 H×W×3 image", f"scale = {s} / max(H, W); resize to (round(H·scale), round(W·scale)): "
            f"{_resize_rule()}", f"normalise: {norm['kind']}",
            f"pad bottom-right with zeros to {s}×{s}", f"3×{s}×{s}, batch of 1, float32"],
            "encoder_side": s, "resize": _resize_rule(), "normalization": norm, "padding": "bottom-right, zeros"},
        "prompt": {
            "frame": f"model-frame pixels: input-image pixel coordinates × scale (scale = {s} / max(H, W))",
            "point_coords": "1×N×2 (x, y); point_labels 1×N float: 1 lesion point, 0 background point",
            "box": "x0, y0, x1, y1 appended as two points labelled 2 and 3 (after any points)",
            "padding": "without a box, append the point (0, 0) labelled -1; no prompt at all: N = 0",
            "mask_input": "1×1×256×256 zeros with has_mask_input [0] (dermaseg never passes a mask)"},
        "mask_outputs": {"single": [0], "multimask": list(range(1, NUM_MASK_OUTPUTS)),
                         "use": "single" if not multi else "multimask",
                         "choose": "the output with the highest iou_predictions among those used"},
        "postprocess": {"steps": [
            f"upsample the chosen low_res_logits 256×256 to {s}×{s} (bilinear, align_corners=False)",
            "crop to the resized image (round(H·scale) × round(W·scale))",
            "resize to H×W (bilinear, align_corners=False)", "probability = sigmoid, mask = probability > threshold",
            "dermaseg then keeps one 8-connected component and fills its holes"]},
    }
    return {"encoder": "encoder.onnx", "decoder": "decoder.onnx"}, info


def export_model(model: Any, out: str | os.PathLike, *, int8: bool = False, opset: int = DEFAULT_OPSET,
                 source: str | None = None) -> dict[str, Any]:
    """Export ``model`` (a CNN or SAM-family model instance) into the folder ``out`` -> the metadata
    written as ``out/dermaseg_onnx.json``. The graphs are made in a temporary folder beside ``out`` and
    moved in only when everything succeeded (the JSON last)."""
    onnx = require_export()
    family = family_of(model)
    max_opset = int(onnx.defs.onnx_opset_version())
    if not MIN_OPSET <= int(opset) <= max_opset:
        raise DermasegError(f"--opset {opset}: choose an opset between {MIN_OPSET} and {max_opset}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DermasegError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = _cpu_eval(model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent))
    try:
        graphs, info = (_cnn if family == "cnn" else _sam)(model, tmp, int(opset))
        quant: dict[str, Any] | None = None
        if int8:
            quant = {"graphs": {}, "version": INT8_VERSION}
            calibration = calibration_file(str(model.config.get("name", "")), weights_sha256(model)) \
                if family == "cnn" else None
            for role, name in graphs.items():
                ops = INT8_PLAN[role]
                if ops:
                    fp32 = tmp / f"{name}.fp32"
                    os.replace(tmp / name, fp32)
                    quant["graphs"][role] = quantize_static_graph(fp32, tmp / name, calibration) \
                        if calibration is not None else quantize_graph(fp32, tmp / name, ops)
                    fp32.unlink()
                else:
                    quant["graphs"][role] = {"method": "none: kept float32"}
        files = sorted(p.name for p in tmp.iterdir() if p.is_file())
        meta: dict[str, Any] = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "model": str(model.config.get("name", type(model).__name__)),
            "source": str(source if source is not None else model.config.get("source_file", model.config.get("name"))),
            "weights_sha256": weights_sha256(model), "dermaseg_version": __version__,
            "torch_version": _torch_version(), "family": family, "opset": int(opset), "int8": bool(int8),
            "quantization": quant, "threshold": float(model.config.get("threshold", DEFAULT_THRESHOLD)),
            **info,
            "graphs": {role: {"file": name, "sha256": sha256_file(tmp / name), **graph_io(tmp / name)}
                       for role, name in graphs.items()},
            "files": {name: sha256_file(tmp / name) for name in files},
        }
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if not out.exists():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; give it a plain mkdir's permissions
            os.rename(tmp, out)
        else:
            for name in [*files, METADATA_FILE]:
                os.replace(tmp / name, out / name)
        return meta
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def export_cli(model: str, format: str = "onnx", out: str | os.PathLike | None = None, int8: bool = False,
               opset: int = DEFAULT_OPSET, checkpoint: str | os.PathLike | None = None) -> Path:
    """``dermaseg export``: check the options, load the model, export, print one line. Returns ``out``."""
    if format not in FORMATS:
        raise DermasegError(f"--format {format}: only {', '.join(FORMATS)} is supported")
    if out is None:
        raise DermasegError("--out is required")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DermasegError(f"{out}: exists and is not a folder")
    require_export()
    kw = {"checkpoint": checkpoint} if checkpoint is not None else {}
    net = create_model(str(model), **kw)
    meta = export_model(net, out, int8=int8, opset=opset, source=str(model))
    sizes = ", ".join(f"{g['file']} {(out / g['file']).stat().st_size / 2**20:.1f} MB" for g in meta["graphs"].values())
    print(f"wrote {out}: {sizes}{' (int8)' if int8 else ''}, {METADATA_FILE}")
    return out
