"""The torch modules dermaseg exports to ONNX, and the export call.

- A CNN (:class:`~dermaseg.models.base.CNNSegmenter`) is exported as it is: ``image`` B×3×H×W float32
  (resized to the model's input size, scaled to 0..1, normalised with its mean/std) -> ``logits``
  B×1×H×W, batch dynamic.
- A SAM-family model (:class:`~dermaseg.models.sam.common.SamFamilySegmenter`) as two graphs:
  :class:`SamEncoderGraph` (``image`` 1×3×S×S, preprocessed as the family does -> ``image_embeddings``
  1×256×64×64; melSeg's FPN is part of it) and :class:`SamDecoderGraph`, which follows segment-anything's
  own decoder export (``segment_anything.utils.onnx.SamOnnxModel``): inputs ``image_embeddings``,
  ``point_coords`` 1×N×2 and ``point_labels`` 1×N (model-frame pixels; a box enters as its two corners
  labelled 2 and 3; without a box the point list ends with a padding point (0, 0) labelled -1, as
  segment-anything's prompt encoder pads; no prompt at all is N = 0), ``mask_input`` 1×1×256×256 and
  ``has_mask_input`` (1); outputs ``low_res_logits`` 1×M×256×256 and ``iou_predictions`` 1×M for all
  M = 4 mask tokens (index 0 is the single-mask output, 1..3 the multimask candidates). Unlike
  ``SamOnnxModel`` it returns the low-resolution logits, not masks at the original size, so that the
  Predictor's own upsampling (:func:`~dermaseg.inference.sam_steps.logits_to_input`) makes the masks
  exactly as the torch backend does. The encoder graph takes one image: TinyViT's patch merging reads
  the batch as a Python number, so a traced graph fixes it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

__all__ = ["SamEncoderGraph", "SamDecoderGraph", "export_graph", "DEFAULT_OPSET", "MIN_OPSET", "DECODER_INPUTS",
           "DECODER_OUTPUTS", "NUM_MASK_OUTPUTS"]

#: opset 20 is the first with a ``Gelu`` operator: torch's exporter writes one node per GELU there, which
#: onnxruntime runs as one fused kernel; at 18 it spells GELU out as Div/Erf/Add/Mul/Mul, which onnxruntime
#: does not fuse (LiteMedSAM's encoder: 0.58 s against 0.78 s fp32, 0.41 s against 0.56 s int8, 2 threads)
DEFAULT_OPSET = 20
#: the oldest opset torch's exporter (torch.export-based) writes; it cannot write older ones
MIN_OPSET = 18
DECODER_INPUTS = ("image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input")
DECODER_OUTPUTS = ("low_res_logits", "iou_predictions")
NUM_MASK_OUTPUTS = 4


class SamEncoderGraph(nn.Module):
    """``model.encode``: 1×3×S×S preprocessed image -> 1×256×64×64 embedding."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.encode(image)


class SamDecoderGraph(nn.Module):
    """Prompt encoder + mask decoder in segment-anything's ONNX convention (module docstring).

    The point embedding is the prompt encoder's, written without in-place masked assignment so it traces
    (as ``SamOnnxModel._embed_points``): coordinates shifted to pixel centres, divided by the model frame
    (W, H), encoded by the random-Fourier positional layer; label -1 zeroes it and adds the not-a-point
    embedding, labels 0..3 add the negative / positive point / box-corner embeddings.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.prompt_encoder = model.prompt_encoder
        self.mask_decoder = model.mask_decoder
        h, w = model.prompt_encoder.input_image_size
        self.frame = (float(h), float(w))

    def _embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        pe = self.prompt_encoder
        c = coords + 0.5
        c = torch.stack([c[..., 0] / self.frame[1], c[..., 1] / self.frame[0]], dim=-1)
        emb = pe.pe_layer._pe_encoding(c)
        lab = labels.unsqueeze(-1)
        emb = emb * (lab != -1) + pe.not_a_point_embed.weight * (lab == -1)
        for i in range(pe.num_point_embeddings):
            emb = emb + pe.point_embeddings[i].weight * (lab == i)
        return emb

    def forward(self, image_embeddings: torch.Tensor, point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (low-res logits 1×4×256×256, predicted IoU 1×4) for every mask token."""
        pe = self.prompt_encoder
        sparse = self._embed_points(point_coords, point_labels)
        dense = has_mask_input * pe.mask_downscaling(mask_input) + (1 - has_mask_input) * pe.no_mask_embed.weight.reshape(
            1, -1, 1, 1)
        return self.mask_decoder.predict_masks(image_embeddings=image_embeddings, image_pe=pe.get_dense_pe(),
                                               sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense)


def export_graph(module: nn.Module, args: tuple, path: str | os.PathLike, input_names: tuple[str, ...] | list[str],
                 output_names: tuple[str, ...] | list[str], dynamic_shapes: tuple | None = None,
                 opset: int = DEFAULT_OPSET) -> Path:
    """Export ``module`` (eval, on the CPU) called on ``args`` to one ``.onnx`` file with torch's
    torch.export-based exporter; weights are stored inside the file up to protobuf's 2 GB, beside it
    (``<file>.data``) above. Returns the path."""
    path = Path(path)
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(module.eval(), args, None, input_names=list(input_names),
                                    output_names=list(output_names), dynamic_shapes=dynamic_shapes,
                                    opset_version=int(opset), dynamo=True, verbose=False, external_data=False)
    size = sum(int(p.numel()) * p.element_size() for p in module.parameters())
    program.save(str(path), external_data=size >= 1_800_000_000)
    return path
