"""Prompts for Segment-Anything-family models, each labelled with where it came from.

Sources (the ``source`` label every evaluation reports; never mixed within one run):

- ``"ground truth (SkinSAM jitter)"`` — :func:`skinsam_prompt`, SkinSAM's simulation (its §2.3), from
  the true mask;
- ``"image centre"`` — :func:`center_point`, :func:`center_box`, no knowledge of the lesion;
- ``"model: <name>"`` — :func:`box_from_mask` on another model's predicted mask;
- ``"user"`` — :func:`user_prompt`, coordinates someone typed.

SkinSAM's pseudocode, per image: pick one random point inside the mask; take the mask's bounding box
grown by 20 px on each side; shift it randomly by up to 30 px horizontally and vertically; scale it by
up to 10 %. Our reading, made explicit:

- the point is a uniformly random lesion pixel ``(x=column, y=row)``;
- shifts ``dx, dy ~ U(-30, 30)`` independently; one scale factor ``s ~ U(0.9, 1.1)`` applied to the
  box's width and height about its (shifted) centre;
- SkinSAM's images are HAM10000's 600×450, so pixel amounts are scaled to each image by
  ``k = max(H, W) / 600`` (20 px becomes ``20 k``, 30 px ``30 k``): on a 256×192 image k = 0.427;
- the box is finally clipped to the image, ``[0, W-1] × [0, H-1]``;
- the generator is ``numpy.random.default_rng([seed, crc32(image_id)])``: the same (seed, image) always
  gives the same prompt, whatever order images are visited in. The point is drawn first, then the box,
  so ``"box"`` and ``"box+point"`` runs share the same box.

Coordinates are input-image pixels, boxes ``(x0, y0, x1, y1)`` inclusive of the extreme pixels.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Prompt",
    "SOURCE_TRUTH",
    "SOURCE_CENTRE",
    "SOURCE_USER",
    "PROMPT_KINDS",
    "REFERENCE_SIDE",
    "rng_for",
    "pixel_scale",
    "mask_bbox",
    "skinsam_prompt",
    "center_point",
    "center_box",
    "box_from_mask",
    "user_prompt",
    "make_prompt",
]

SOURCE_TRUTH = "ground truth (SkinSAM jitter)"
SOURCE_CENTRE = "image centre"
SOURCE_USER = "user"
#: longest side of SkinSAM's images (HAM10000, 600×450); pixel amounts are scaled relative to it
REFERENCE_SIDE = 600
#: kinds understood by :func:`make_prompt`
PROMPT_KINDS = ("none", "box", "point", "box+point", "center", "center-box")

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Prompt:
    """A prompt in input-image pixels plus where it came from.

    ``box`` (x0, y0, x1, y1) or None; ``points`` ((x, y), ...) or None; ``labels`` 1 = lesion,
    0 = background, one per point; ``source`` one of the module's source labels.
    """

    box: Box | None = None
    points: tuple[tuple[float, float], ...] | None = None
    labels: tuple[int, ...] | None = None
    source: str = ""

    @property
    def empty(self) -> bool:
        return self.box is None and not self.points

    def kwargs(self) -> dict:
        """Keyword arguments for ``Predictor.predict``."""
        return {"box": self.box, "points": self.points, "point_labels": self.labels}

    def describe(self) -> str:
        """Short text for tables, e.g. ``box 10,12,80,90 + point 40,50 [user]``."""
        parts = []
        if self.box is not None:
            parts.append("box " + ",".join(f"{v:g}" for v in np.round(self.box, 1)))
        pts = self.points or ()
        for (x, y), lab in zip(pts, self.labels or (1,) * len(pts), strict=True):
            parts.append(f"{'point' if lab else 'negative point'} {x:g},{y:g}")
        text = " + ".join(parts) if parts else "none"
        return f"{text} [{self.source}]" if self.source else text


def rng_for(seed: int, image_id: str) -> np.random.Generator:
    """A generator that depends only on (seed, image_id): order-independent, stable across runs."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(image_id).encode("utf-8"))])


def pixel_scale(shape: tuple[int, ...], reference: int = REFERENCE_SIDE) -> float:
    """``max(H, W) / reference``: the factor applied to SkinSAM's pixel amounts for this image size."""
    return max(int(shape[0]), int(shape[1])) / float(reference)


def mask_bbox(mask: np.ndarray) -> Box | None:
    """Tight box of a bool H×W mask, (x0, y0, x1, y1) inclusive; None when the mask is empty."""
    m = np.asarray(mask, dtype=bool)
    rows, cols = np.any(m, axis=1), np.any(m, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return (float(x0), float(y0), float(x1), float(y1))


def _clip_box(box, h: int, w: int) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((min(max(x0, 0.0), w - 1.0), min(max(x1, 0.0), w - 1.0)))
    y0, y1 = sorted((min(max(y0, 0.0), h - 1.0), min(max(y1, 0.0), h - 1.0)))
    return (x0, y0, x1, y1)


def skinsam_prompt(mask: np.ndarray, kind: str = "box+point", seed: int = 0, image_id: str = "",
                   margin: float = 20.0, shift: float = 30.0, scale: float = 0.10,
                   reference: int = REFERENCE_SIDE) -> Prompt:
    """SkinSAM's simulated prompt from a true bool H×W mask (module docstring for the exact rule).

    ``kind`` is ``"box"``, ``"point"`` or ``"box+point"``. An empty mask gives an empty prompt
    (``Prompt.empty``), still labelled with the ground-truth source.
    """
    if kind not in ("box", "point", "box+point"):
        raise ValueError(f"kind must be box, point or box+point, got {kind!r}")
    m = np.asarray(mask, dtype=bool)
    h, w = m.shape
    tight = mask_bbox(m)
    if tight is None:
        return Prompt(source=SOURCE_TRUTH)
    rng = rng_for(seed, image_id)
    k = pixel_scale(m.shape, reference)
    ys, xs = np.nonzero(m)
    i = int(rng.integers(len(xs)))
    point = (float(xs[i]), float(ys[i]))
    dx, dy = rng.uniform(-shift * k, shift * k, size=2)
    s = float(rng.uniform(1.0 - scale, 1.0 + scale))
    x0, y0, x1, y1 = tight
    x0, y0, x1, y1 = x0 - margin * k + dx, y0 - margin * k + dy, x1 + margin * k + dx, y1 + margin * k + dy
    cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * s, (y1 - y0) / 2 * s
    box = _clip_box((cx - hw, cy - hh, cx + hw, cy + hh), h, w)
    return Prompt(box=box if "box" in kind else None,
                  points=(point,) if "point" in kind else None,
                  labels=(1,) if "point" in kind else None, source=SOURCE_TRUTH)


def center_point(shape: tuple[int, ...]) -> Prompt:
    """One positive point at the image centre ((W-1)/2, (H-1)/2)."""
    h, w = int(shape[0]), int(shape[1])
    return Prompt(points=(((w - 1) / 2.0, (h - 1) / 2.0),), labels=(1,), source=SOURCE_CENTRE)


def center_box(shape: tuple[int, ...], fraction: float = 0.8) -> Prompt:
    """A box centred on the image covering ``fraction`` of its width and height."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    h, w = int(shape[0]), int(shape[1])
    cx, cy, hw, hh = (w - 1) / 2.0, (h - 1) / 2.0, (w - 1) * fraction / 2.0, (h - 1) * fraction / 2.0
    return Prompt(box=_clip_box((cx - hw, cy - hh, cx + hw, cy + hh), h, w), source=SOURCE_CENTRE)


def box_from_mask(mask: np.ndarray, model_name: str, margin: float = 0.0) -> Prompt:
    """The bounding box of a *predicted* mask (grown by ``margin`` px, clipped), labelled
    ``"model: <name>"``; an empty prediction gives an empty prompt."""
    m = np.asarray(mask, dtype=bool)
    src = f"model: {model_name}"
    tight = mask_bbox(m)
    if tight is None:
        return Prompt(source=src)
    x0, y0, x1, y1 = tight
    return Prompt(box=_clip_box((x0 - margin, y0 - margin, x1 + margin, y1 + margin), *m.shape), source=src)


def user_prompt(box=None, point=None) -> Prompt:
    """A prompt someone typed: ``box`` (x0, y0, x1, y1) and/or ``point`` (x, y), labelled ``"user"``."""
    b = tuple(float(v) for v in box) if box is not None else None
    p = ((float(point[0]), float(point[1])),) if point is not None else None
    return Prompt(box=b, points=p, labels=(1,) if p else None, source=SOURCE_USER)


def make_prompt(kind: str, shape: tuple[int, ...], truth: np.ndarray | None = None, seed: int = 0,
                image_id: str = "", center_fraction: float = 0.8) -> Prompt:
    """One entry point for evaluation: ``kind`` in :data:`PROMPT_KINDS`.

    ``none`` -> empty prompt (source "none"); ``box``/``point``/``box+point`` -> :func:`skinsam_prompt`
    (needs ``truth``); ``center`` -> :func:`center_point`; ``center-box`` -> :func:`center_box`.
    Boxes from a model need that model's mask: call :func:`box_from_mask` directly.
    """
    if kind == "none":
        return Prompt(source="none")
    if kind in ("box", "point", "box+point"):
        if truth is None:
            raise ValueError(f"prompt '{kind}' is simulated from the ground truth: pass truth=")
        return skinsam_prompt(truth, kind, seed=seed, image_id=image_id)
    if kind == "center":
        return center_point(shape)
    if kind == "center-box":
        return center_box(shape, center_fraction)
    raise ValueError(f"unknown prompt kind {kind!r}; known: {', '.join(PROMPT_KINDS)}, box-from-model")
