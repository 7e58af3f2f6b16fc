"""dermaseg: skin-lesion segmentation for dermoscopic images.

The package mirrors the pipeline: ``data`` -> ``models`` -> ``training`` -> ``inference`` ->
``evaluation`` -> ``report``; ``cli`` (and the web app) are thin front ends over the library
(``docs/ARCHITECTURE.md``). The public API below is imported on first use, so ``import dermaseg`` and
``dermaseg --help`` do not import torch::

    import dermaseg
    predictor = dermaseg.load_predictor("default")
    predictor.set_image(rgb)                       # RGB uint8 H×W×3
    mask = predictor.predict().mask                # bool H×W
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute); attribute None means the module itself. Add an entry to export more.
_LAZY: dict[str, tuple[str, str | None]] = {
    "load_predictor": ("dermaseg.inference.predictor", "load_predictor"),
    "Predictor": ("dermaseg.inference.predictor", "Predictor"),
    "Prediction": ("dermaseg.inference.predictor", "Prediction"),
    "segment_files": ("dermaseg.inference.segment", "segment_files"),
    "evaluate": ("dermaseg.evaluation.evaluate", "evaluate"),
    "create_model": ("dermaseg.models.registry", "create_model"),
    "list_models": ("dermaseg.models.registry", "list_models"),
    "load_dataset": ("dermaseg.data.readers", "load_dataset"),
    "Prompt": ("dermaseg.data.prompts", "Prompt"),
    "DermasegError": ("dermaseg.errors", "DermasegError"),
    "measure": ("dermaseg.measure", None),
    "compare": ("dermaseg.compare.run", "compare"),  # the package is callable: dermaseg.measure(mask, image, pixel_size)
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (PEP 562) and keep it in the module's namespace."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'dermaseg' has no attribute {name!r}") from None
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
