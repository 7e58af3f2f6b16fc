"""ONNX export and the Predictor's onnxruntime backend.

``graphs`` (the torch modules that are exported: a CNN's forward; a SAM-family image encoder and prompt
decoder in segment-anything's decoder convention), ``onnx_export`` (``dermaseg export``: the graphs plus a
JSON that describes them), ``quantize`` (``--int8``), ``metadata`` (that JSON: building, reading, sha256
checks), ``cache`` (graphs exported once per model and weights, for ``--backend onnx``), ``runtime`` (the
onnxruntime runner the :class:`~dermaseg.inference.predictor.Predictor` calls instead of torch), ``deps``
(the one-line message when the ``onnx`` extra is missing). onnx and onnxruntime are imported only inside
functions that need them.
"""

from __future__ import annotations

__all__: list[str] = []  # import from the modules: dermaseg.export.onnx_export.export_model, ...
