"""The onnxruntime backend of the :class:`~dermaseg.inference.predictor.Predictor`.

:class:`OnnxRunner` makes the network calls of the torch backend (:class:`~dermaseg.inference.backends.TorchRunner`)
with exported graphs: ``cnn_logits`` (a CNN), ``sam_encode`` and ``sam_decode`` (a SAM-family model). The
Predictor's pre- and post-processing (:mod:`dermaseg.inference.cnn_steps`, :mod:`dermaseg.inference.sam_steps`)
are the same for both backends; tensors go in and come out as torch tensors on the Predictor's device.

Every file of the export is checked against the sha256 in its ``dermaseg_onnx.json`` before it is loaded.
Providers: CUDA when the Predictor's device is a CUDA device and this onnxruntime has the CUDA provider,
else the CPU. ``threads`` sets onnxruntime's intra-op threads (its default, one per core, when None); idle
worker threads do not spin, so they leave the cores to the torch steps in between.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError
from dermaseg.export.deps import require_onnxruntime
from dermaseg.export.graphs import NUM_MASK_OUTPUTS
from dermaseg.export.metadata import read_metadata, verify

__all__ = ["OnnxRunner", "prompt_points"]


def prompt_points(boxes, points, labels) -> tuple[np.ndarray, np.ndarray]:
    """Model-frame prompts (boxes 1×4, points 1×N×2, labels 1×N; each may be None) -> the decoder's
    ``point_coords`` 1×M×2 and ``point_labels`` 1×M float32, as segment-anything's prompt encoder orders
    them: points, then the box's corners labelled 2 and 3; a padding point (0, 0) labelled -1 when there
    are points but no box; M = 0 without any prompt."""
    coords: list[np.ndarray] = []
    labs: list[np.ndarray] = []
    if points is not None:
        p = np.asarray(points, np.float32).reshape(-1, 2)
        coords.append(p)
        labs.append(np.ones(len(p), np.float32) if labels is None else np.asarray(labels, np.float32).reshape(-1))
    if boxes is not None:
        coords.append(np.asarray(boxes, np.float32).reshape(2, 2))
        labs.append(np.array([2.0, 3.0], np.float32))
    elif points is not None:
        coords.append(np.zeros((1, 2), np.float32))
        labs.append(np.array([-1.0], np.float32))
    if not coords:
        return np.zeros((1, 0, 2), np.float32), np.zeros((1, 0), np.float32)
    return np.concatenate(coords)[None], np.concatenate(labs)[None]


def _numpy(t) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu").numpy(), dtype=np.float32)


class OnnxRunner:
    """Sessions over one export folder (``dermaseg export`` or the cache).

    Args:
        folder: the export folder.
        device: the Predictor's torch device (outputs land there; CUDA picks onnxruntime's CUDA provider).
        threads: onnxruntime intra-op threads (None: onnxruntime's default).
        weights_sha256: when given, the export must have been made from these weights.
    """

    name = "onnx"
    #: the torch decoder's per-image preparation (:func:`dermaseg.models.sam.fast_inference.prepare`) is not used
    prepares = False

    def __init__(self, folder: str | os.PathLike, device: Any = None, threads: int | None = None,
                 weights_sha256: str | None = None) -> None:
        import torch

        ort = require_onnxruntime()
        self.folder = Path(folder)
        self.meta = read_metadata(self.folder)
        if weights_sha256 is not None and self.meta["weights_sha256"] != weights_sha256:
            raise DermasegError(f"{self.folder}: exported from other weights than the model's "
                                f"({self.meta['weights_sha256'][:12]}... vs {weights_sha256[:12]}...)")
        verify(self.folder, self.meta)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.inter_op_num_threads = 1
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.providers = providers
        self.sessions = {role: ort.InferenceSession(str(self.folder / g["file"]), opts, providers=providers)
                         for role, g in self.meta["graphs"].items()}
        self.int8 = bool(self.meta["int8"])

    def _session(self, role: str):
        if role not in self.sessions:
            raise DermasegError(f"{self.folder}: a {self.meta['family']} export has no {role} graph")
        return self.sessions[role]

    def _tensor(self, a: np.ndarray):
        import torch

        return torch.from_numpy(a).to(self.device)

    def cnn_logits(self, x):
        """B×3×h×w normalised batch (torch) -> logits B×1×h×w (torch, on the Predictor's device)."""
        (logits,) = self._session("model").run(["logits"], {"image": _numpy(x)})
        return self._tensor(logits)

    def sam_encode(self, x):
        """B×3×S×S preprocessed images -> embeddings B×256×64×64, one image at a time."""
        import torch

        sess = self._session("encoder")
        outs = [sess.run(["image_embeddings"], {"image": _numpy(x[i:i + 1])})[0] for i in range(x.shape[0])]
        return torch.cat([self._tensor(o) for o in outs])

    def sam_decode(self, emb, boxes, points, labels, multimask: bool):
        """One image's embedding (:class:`~dermaseg.inference.sam_steps.Embedding`) and its model-frame
        prompts (torch or None) -> (low-res logits 1×K×256×256, IoU 1×K), K = 3 with ``multimask`` else 1,
        as :meth:`~dermaseg.models.sam.common.SamFamilySegmenter.decode`."""
        coords, labs = prompt_points(None if boxes is None else _numpy(boxes), None if points is None else _numpy(points),
                                     None if labels is None else labels.detach().to("cpu").numpy())
        t = emb.tensor
        feed = {"image_embeddings": _numpy(t), "point_coords": coords, "point_labels": labs,
                "mask_input": np.zeros((1, 1, 4 * t.shape[-2], 4 * t.shape[-1]), np.float32),
                "has_mask_input": np.zeros(1, np.float32)}
        logits, iou = self._session("decoder").run(None, feed)
        sl = slice(1, NUM_MASK_OUTPUTS) if multimask else slice(0, 1)
        return self._tensor(np.ascontiguousarray(logits[:, sl])), self._tensor(np.ascontiguousarray(iou[:, sl]))
