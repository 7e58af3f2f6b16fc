"""Drawing masks and prompts on images: the one place that decides how a mask looks on a picture.

Two styles, each used by one kind of output:

- :func:`draw_overlay` (``dermaseg segment``'s ``<stem>_overlay.png``, uint8): the predicted mask's
  outline in yellow, the prompt box in cyan and prompt points as green dots, on the image itself.
- :func:`tint` and :func:`contours` (the report's figures, float RGB in [0, 1]): truth-only pixels tinted
  **green** (missed), prediction-only pixels **yellow** (false positive) and the overlap half-way between
  (melSeg Fig. 6); contours from :func:`contours`.

One colour pair everywhere (every report figure, the measurement figures, the README's pictures): ground
truth :data:`TRUTH_COLOUR` green, prediction :data:`PRED_COLOUR` yellow, as melSeg draws them; prompts
cyan. (SkinSAM's Fig. 3 draws truth red and prediction green; we do not, so that green always means the
truth.)

Coordinates are (x = column, y = row) with row 0 at the top: nothing is flipped or transposed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["outline", "draw_overlay", "outline_width", "overlay_style", "tint", "contours", "GREEN", "YELLOW",
           "BOTH", "TRUTH_COLOUR", "PRED_COLOUR", "PROMPT_COLOUR", "EDGE_COLOUR", "OUTLINE_RGB", "BOX_RGB",
           "POINT_RGB", "PIXELS_PER_WIDTH"]

#: report colours (RGB in [0, 1])
GREEN = (0.0, 0.8, 0.0)
YELLOW = (1.0, 0.9, 0.0)
BOTH = (0.5, 0.85, 0.0)  # overlap of truth green and prediction yellow
#: the one colour of the ground truth and the one of the prediction, in every figure
TRUTH_COLOUR = GREEN
PRED_COLOUR = YELLOW
PROMPT_COLOUR = (0.0, 0.85, 1.0)
#: a dark rim drawn under thin coloured lines so that yellow and green read on light skin and on white
EDGE_COLOUR = (0.1, 0.1, 0.1)

#: ``dermaseg segment`` overlay colours (RGB uint8)
OUTLINE_RGB = (255, 255, 0)
BOX_RGB = (0, 255, 255)
POINT_RGB = (0, 255, 0)
#: the overlay's line width: 1 px per this many px of the image's longest side (at least 1)
PIXELS_PER_WIDTH = 300


def outline_width(height: int, width: int) -> int:
    """The overlay's line width in px for an image of ``height`` × ``width``: ``max(1, round(max(H, W) /
    PIXELS_PER_WIDTH))`` with Python's ``round`` (halves to even: a longest side of 750 px gives 2)."""
    return max(1, int(round(max(int(height), int(width)) / PIXELS_PER_WIDTH)))


def overlay_style() -> dict:
    """The ``<stem>_overlay`` style as data, for the web page's exported overlays (``GET /api/config``): the
    outline, box and point colours (RGB 0-255) and the width rule of :func:`outline_width`."""
    return {"rgb": list(OUTLINE_RGB), "box_rgb": list(BOX_RGB), "point_rgb": list(POINT_RGB),
            "width": 1, "pixels_per_width": PIXELS_PER_WIDTH,
            "width_rule": "max(1, round(max(W, H) / pixels_per_width)), halves rounded to even"}


def outline(mask: np.ndarray, thickness: int = 1) -> np.ndarray:
    """Bool H×W boundary band of ``mask``: mask pixels within ``thickness`` px (square neighbourhood) of a
    background pixel or of the image border."""
    import cv2

    m = np.asarray(mask, dtype=np.uint8)
    k = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    return (m > 0) & (cv2.erode(m, k, borderType=cv2.BORDER_CONSTANT, borderValue=0) == 0)


def draw_overlay(rgb: np.ndarray, mask: np.ndarray, box=None, points=None) -> np.ndarray:
    """RGB uint8 H×W×3 with the mask outline (yellow), the box (cyan) and points (green) drawn on a copy;
    line width grows with the image (:func:`outline_width`)."""
    import cv2

    h, w = rgb.shape[:2]
    t = outline_width(h, w)
    out = np.ascontiguousarray(rgb.copy())
    out[outline(mask, thickness=t)] = OUTLINE_RGB
    if box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(out, (x0, y0), (x1, y1), BOX_RGB, t)
    for x, y in points or ():
        cv2.circle(out, (int(round(x)), int(round(y))), 2 * t + 1, POINT_RGB, -1)
        cv2.circle(out, (int(round(x)), int(round(y))), 2 * t + 1, (0, 0, 0), 1)
    return out


def tint(rgb: np.ndarray, truth: np.ndarray, pred: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """RGB uint8 H×W×3 -> float H×W×3 in [0, 1]: truth-only pixels tinted green, prediction-only pixels
    yellow, the overlap half-way between (at 0.6 × ``alpha``); other pixels unchanged."""
    out = rgb.astype(np.float32) / 255.0
    both = truth & pred
    for m, colour, a in ((truth & ~pred, GREEN, alpha), (pred & ~truth, YELLOW, alpha), (both, BOTH, alpha * 0.6)):
        out[m] = (1 - a) * out[m] + a * np.asarray(colour, dtype=np.float32)
    return np.clip(out, 0, 1)


def contours(mask: np.ndarray) -> list[np.ndarray]:
    """The boundary polylines of a bool H×W mask, each an N×2 array of (x, y) pixel coordinates (closed,
    also where the mask touches the image border); empty mask -> []."""
    from skimage.measure import find_contours

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return []
    padded = np.pad(m.astype(float), 1)  # closes contours that touch the image border
    return [np.stack([c[:, 1] - 1, c[:, 0] - 1], axis=1) for c in find_contours(padded, 0.5)]
