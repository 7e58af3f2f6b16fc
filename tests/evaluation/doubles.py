"""Test doubles implementing the Predictor interface (set_image / predict / promptable / name / device).

They are NOT models: they exist so that evaluation tests can assert exact numbers.
``TruthLookupPredictorDouble`` returns the ground-truth mask of the image it is given (found by the
image's pixels), optionally transformed; ``BoxFillPredictorDouble`` is promptable and returns the
filled prompt box (or a disc around the prompt point).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dermaseg.io import read_image, read_mask


@dataclass
class PredictionDouble:
    prob: np.ndarray
    mask: np.ndarray
    score: float | None = None
    box: tuple[float, float, float, float] | None = None
    points: tuple | None = None
    source: str = ""


def _key(rgb: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rgb).tobytes()).hexdigest()


class TruthLookupPredictorDouble:
    """Promptless double: predict() = transform(truth of the image passed to set_image)."""

    promptable = False
    device = "cpu"

    def __init__(self, samples, transform: Callable[[np.ndarray], np.ndarray] | None = None,
                 name: str = "truth-lookup-double", fail_after: int | None = None) -> None:
        self.name = name
        self._truth = {_key(read_image(s.image)): read_mask(s.mask) for s in samples}
        self._transform = transform or (lambda m: m)
        self._mask: np.ndarray | None = None
        self._fail_after = fail_after
        self.calls = 0

    def set_image(self, rgb: np.ndarray) -> None:
        self.calls += 1
        if self._fail_after is not None and self.calls > self._fail_after:
            raise RuntimeError("double told to fail")
        self._mask = self._transform(self._truth[_key(rgb)])

    def predict(self, box=None, points=None, point_labels=None, multimask=None, source: str = ""):
        m = np.asarray(self._mask, dtype=bool)
        return PredictionDouble(prob=m.astype(np.float32), mask=m, score=0.5, source="auto: double")


class BoxFillPredictorDouble:
    """Promptable double: the mask is the filled prompt box, or a disc of ``radius`` px at the point."""

    promptable = True
    device = "cpu"
    name = "box-fill-double"

    def __init__(self, radius: int = 5) -> None:
        self.radius = radius
        self._shape: tuple[int, int] | None = None

    def set_image(self, rgb: np.ndarray) -> None:
        self._shape = rgb.shape[:2]

    def predict(self, box=None, points=None, point_labels=None, multimask=None, source: str = ""):
        h, w = self._shape
        m = np.zeros((h, w), bool)
        if box is not None:
            x0, y0, x1, y1 = (int(round(v)) for v in box)
            m[y0:y1 + 1, x0:x1 + 1] = True
        elif points is not None:
            yy, xx = np.mgrid[0:h, 0:w]
            for x, y in points:
                m |= (xx - x) ** 2 + (yy - y) ** 2 <= self.radius ** 2
        return PredictionDouble(prob=m.astype(np.float32), mask=m, score=0.9,
                                box=None if box is None else tuple(float(v) for v in box))
