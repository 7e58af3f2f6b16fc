"""``--prompt box-from-model``: the box prompt a SAM-family model gets from another model's automatic mask.

One code path for ``dermaseg segment --prompt box-from-model`` and ``dermaseg evaluate --prompt
box-from-model``: the promptless ``box model`` (the bundled automatic model unless told otherwise) segments
the image, and the tight bounding box of its mask (:func:`dermaseg.data.prompts.box_from_mask`) is the
prompt, labelled ``"model: <name>"``. An empty automatic mask gives an empty prompt (the SAM-family model
then gives its own no-prompt output, flagged as such by its source).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dermaseg.data.prompts import Prompt, box_from_mask

__all__ = ["BOX_MODEL", "model_box_prompt"]

#: the model whose mask gives the box, unless told otherwise
BOX_MODEL = "default"


def model_box_prompt(box_model: Any, rgb: np.ndarray, name: str = BOX_MODEL) -> Prompt:
    """The box of ``box_model``'s automatic mask on ``rgb`` (RGB uint8 H×W×3), labelled ``model: <name>``.

    ``box_model`` is any promptless :class:`~dermaseg.inference.predictor.PredictorLike`; its image cache is
    replaced by ``rgb``."""
    box_model.set_image(rgb)
    return box_from_mask(np.asarray(box_model.predict().mask, dtype=bool), name)
