"""Where the :class:`~dermaseg.inference.predictor.Predictor`'s network calls run: torch or onnxruntime.

A runner makes a model's network calls and nothing else: ``cnn_logits(x)`` (a CNN: normalised batch
B×3×h×w -> logits B×1×h×w), ``sam_encode(x)`` (a SAM-family model: B×3×S×S -> embeddings B×256×64×64)
and ``sam_decode(emb, boxes, points, labels, multimask)`` (one embedding and model-frame prompts ->
low-res logits 1×K×256×256 and IoU 1×K); ``prepares`` says whether ``sam_embed`` should compute the torch
decoder's per-image state. Everything before and after (resizing, normalising, the prompt frame,
upsampling, thresholding, post-processing) is in :mod:`~dermaseg.inference.cnn_steps` and
:mod:`~dermaseg.inference.sam_steps`, shared by both backends, so their masks agree.

Backends: ``"torch"`` (:class:`TorchRunner`), ``"onnx"`` (onnxruntime on graphs exported once per model
and cached, :class:`~dermaseg.export.runtime.OnnxRunner`), ``"onnx-int8"`` (the same with ``--int8``
graphs).
"""

from __future__ import annotations

from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.export.cache import cache_root, cached_export
from dermaseg.export.deps import require_onnxruntime
from dermaseg.export.runtime import OnnxRunner
from dermaseg.inference.sam_steps import torch_decode
from dermaseg.models.base import PromptableSegmenter
from dermaseg.models.sam.fast_inference import FastEncoder

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "TorchRunner", "make_runner", "check_backend", "backend_status"]

BACKENDS = ("torch", "onnx", "onnx-int8")
#: what segment, evaluate and serve use without ``--backend``: torch, whether or not onnxruntime is installed
#: (torch's outputs are the ones results and tests were made with; onnx is opt-in until it is measured to pay)
DEFAULT_BACKEND = "torch"


class TorchRunner:
    """The torch network calls: the model itself, its conv+BN-fused encoder (:class:`FastEncoder`) and the
    prepared decoder (:func:`~dermaseg.inference.sam_steps.torch_decode`)."""

    name = "torch"
    prepares = True

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encoder = FastEncoder(model) if isinstance(model, PromptableSegmenter) else None

    def cnn_logits(self, x):
        return self.model(x)

    def sam_encode(self, x):
        return self.encoder(x)

    def sam_decode(self, emb, boxes, points, labels, multimask: bool):
        return torch_decode(self.model, emb, boxes, points, labels, multimask)


def check_backend(backend: str) -> str:
    """``backend`` if known, else DermasegError; an ONNX backend also needs onnxruntime installed."""
    if backend not in BACKENDS:
        raise DermasegError(f"--backend {backend}: choose one of {', '.join(BACKENDS)}")
    if backend != "torch":
        require_onnxruntime()
    return backend


def make_runner(model: Any, backend: str = "torch", device: Any = None, threads: int | None = None):
    """The runner of ``model`` for ``backend`` (:data:`BACKENDS`); an ONNX backend exports the model into
    the cache first when needed (:func:`~dermaseg.export.cache.cached_export`)."""
    check_backend(backend)
    if backend == "torch":
        return TorchRunner(model)
    folder, digest = cached_export(model, int8=backend == "onnx-int8")
    return OnnxRunner(folder, device=device, threads=threads, weights_sha256=digest)


def backend_status() -> str:
    """One line for ``dermaseg models``: the default backend, whether onnxruntime is installed, and which
    models' graphs are in the ONNX cache (:mod:`dermaseg.export.cache`)."""
    import importlib.util

    root = cache_root()
    have = importlib.util.find_spec("onnxruntime") is not None
    cached = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    return (f"backend: {DEFAULT_BACKEND} unless --backend onnx|onnx-int8 is given; onnxruntime "
            f"{'installed' if have else 'not installed (pip install dermaseg[onnx])'}; ONNX graphs cached in "
            f"{root}: {', '.join(cached) if cached else 'none (made on first use)'}; the end summary of segment "
            "and evaluate names the backend that ran")
