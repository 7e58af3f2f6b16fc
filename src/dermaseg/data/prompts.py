"""Prompts for Segment-Anything-family models, each labelled with where it came from.

Sources (the ``source`` label every evaluation reports; never mixed within one run):

- ``"ground truth (SkinSAM jitter)"`` — :func:`skinsam_prompt`, SkinSAM's simulation (its §2.3), from
  the true mask;
- ``"image centre"`` — :func:`center_point`, :func:`center_box`, no knowledge of the lesion;
- ``"model: <name>"`` — :func:`box_from_mask` on another model's predicted mask;
- ``"user"`` — :func:`user_prompt`, coordinates someone typed (``--box``, ``--point``, ``--prompts CSV``, the
  API's form: read by :mod:`dermaseg.data.prompt_input`).

THE rule for a prompt a person gives lives here, once: :func:`box_problem` (before the image is known) and
:func:`check_user_prompt` (against it; :func:`prompt_rules` hands it to the page). Coordinates are pixel
indices: a point lies on the image when ``0 <= x <= W-1`` and ``0 <= y <= H-1`` (pixel centres; the SAM
prompt encoder adds the +0.5 itself).

:class:`Prompt` is the one prompt type from the command line to the model: the Predictor takes it,
validates it against the image (:meth:`Prompt.for_image`: ordered, clipped), and :meth:`Prompt.describe`
is the one text for it (results.csv, per_image.csv, tables).

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
from dataclasses import InitVar, dataclass
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError

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
    "MAX_POINTS",
    "check_user_prompt",
    "box_problem",
    "prompt_rules",
]

SOURCE_TRUTH = "ground truth (SkinSAM jitter)"
SOURCE_CENTRE = "image centre"
SOURCE_USER = "user"
#: longest side of SkinSAM's images (HAM10000, 600×450); pixel amounts are scaled relative to it
REFERENCE_SIDE = 600
#: kinds understood by :func:`make_prompt`
PROMPT_KINDS = ("none", "box", "point", "box+point", "center", "center-box")

Box = tuple[float, float, float, float]
#: most points one prompt may carry (the SAM decoder's cost grows with them: 100,000 points held a
#: server's model for minutes)
MAX_POINTS = 64


def _on_image(x: float, y: float, w: int, h: int) -> bool:
    """The one point rule: (x, y) lies on the image's pixels, ``0 <= x <= w-1`` and ``0 <= y <= h-1``."""
    return 0 <= x <= w - 1 and 0 <= y <= h - 1


def box_problem(box) -> str | None:
    """THE image-free part of the box rule, shared by ``--box``, prompts CSVs, the API and the page: ``None``
    when ``box`` is 4 finite numbers x0,y0,x1,y1 with ``x0 < x1``, ``y0 < y1`` (positive area) and no
    negative coordinate, else the problem as a phrase ("has no area ...")."""
    b = _floats(box, "box")
    if len(b) != 4 or not all(np.isfinite(b)):
        return "must be 4 finite numbers x0,y0,x1,y1"
    x0, y0, x1, y1 = b
    if not (x0 < x1 and y0 < y1):
        return "has no area (give x0 < x1 and y0 < y1)"
    if min(x0, y0) < 0:
        return "has a negative coordinate"
    return None


def check_user_prompt(box, points, labels, width: int, height: int) -> None:
    """The rule for a prompt a person sends (the server; the page checks the same, see
    :func:`prompt_rules`): a box of 4 finite numbers with ``x0 < x1`` and ``y0 < y1`` (positive area)
    inside the image ``[0, W-1] x [0, H-1]``; at most :data:`MAX_POINTS` points, each on the image;
    one label (0 or 1) per point. Raises :class:`DermasegError` with plain numbers."""
    w, h = int(width), int(height)
    if box is not None:
        b = _floats(box, "box")
        if len(b) != 4 or not all(np.isfinite(b)):
            raise DermasegError(f"box must be 4 finite numbers x0,y0,x1,y1, got {_nums(b)}")
        if problem := box_problem(b):
            raise DermasegError(f"box {_nums(b)} {problem}")
        x0, y0, x1, y1 = b
        if not (_on_image(x0, y0, w, h) and _on_image(x1, y1, w, h)):
            raise DermasegError(f"box {_nums(b)} lies outside the {w}x{h} image "
                                f"(both corners need x in 0..{w - 1}, y in 0..{h - 1})")
    pts = list(points or ())
    if len(pts) > MAX_POINTS:
        raise DermasegError(f"{len(pts)} points: at most {MAX_POINTS} points per prompt")
    for pt in pts:
        x, y = _floats(pt, "point")[:2]
        if not (np.isfinite(x) and np.isfinite(y) and _on_image(x, y, w, h)):
            raise DermasegError(f"point {_nums((x, y))} lies outside the {w}x{h} image "
                                f"(x in 0..{w - 1}, y in 0..{h - 1})")
    if labels is not None and len(labels) != len(pts):
        raise DermasegError(f"{len(pts)} points but {len(labels)} point labels")


def prompt_rules() -> dict:
    """The prompt rule as data, for the browser page (``GET /api/models`` ``limits``)."""
    return {"max_points": MAX_POINTS, "point": "0 <= x <= width-1 and 0 <= y <= height-1",
            "box": "x0 < x1, y0 < y1, both corners on the image"}


def _floats(values, field: str) -> list[float]:
    """Numbers -> floats; an int too large for a float (``10**400``) becomes inf (refused as not finite)."""
    out = []
    for v in values:
        try:
            out.append(float(v))
        except OverflowError:
            out.append(float("inf") if v > 0 else float("-inf"))
        except (TypeError, ValueError):
            raise DermasegError(f"{field}: expected numbers, got {v!r}") from None
    return out


def _nums(values) -> str:
    """Numbers as people write them: ``865,12.5`` (never ``np.float64(865.0)``)."""
    return ",".join(f"{float(v):g}" for v in values)


@dataclass(frozen=True)
class Prompt:
    """A prompt in input-image pixels plus where it came from.

    ``box`` (x0, y0, x1, y1) or None; ``points`` ((x, y), ...) or None; ``labels`` 1 = lesion,
    0 = background, one per point; ``source`` one of the module's source labels. ``point=(x, y)`` is accepted
    as a shorthand for ``points=((x, y),)`` with label 1 (several points, or background clicks: ``points=``
    and ``labels=``).
    """

    box: Box | None = None
    points: tuple[tuple[float, float], ...] | None = None
    labels: tuple[int, ...] | None = None
    source: str = ""
    point: InitVar[tuple[float, float] | None] = None

    def __post_init__(self, point) -> None:
        if point is None:
            return
        xy = np.asarray(point, dtype=np.float64).reshape(-1)
        if xy.size != 2:
            raise DermasegError(f"point= takes one (x, y) pair, got {point!r}; give several clicks as "
                                "points=((x, y), ...) with labels=(1, 0, ...)")
        if self.points is not None or self.labels is not None:
            raise DermasegError("give either point=(x, y) or points=/labels=, not both")
        object.__setattr__(self, "points", ((float(xy[0]), float(xy[1])),))
        object.__setattr__(self, "labels", (1,))

    @property
    def empty(self) -> bool:
        return self.box is None and (self.points is None or len(self.points) == 0)

    @classmethod
    def of(cls, p: Any) -> Prompt:
        """A :class:`Prompt` from a Prompt, None (no prompt) or a dict with ``box``, ``points``,
        ``point_labels`` (or ``labels``) and ``source`` keys."""
        if p is None:
            return cls()
        if isinstance(p, cls):
            return p
        if isinstance(p, dict):
            labels = p.get("point_labels", p.get("labels"))
            return cls(box=p.get("box"), points=p.get("points"), labels=labels, source=p.get("source") or "")
        raise TypeError(f"expected a Prompt, a dict or None, got {type(p).__name__}")

    def kwargs(self) -> dict:
        """Keyword arguments for ``Predictor.predict``."""
        return {"box": self.box, "points": self.points, "point_labels": self.labels}

    def for_image(self, size: tuple[int, int]) -> Prompt:
        """This prompt checked against an image of ``size`` (H, W): the box ordered (x0 <= x1, y0 <= y1)
        and clipped to the image, points as float pairs with one int label each (all 1 when absent).

        A box wholly outside the image, a point outside it, non-finite numbers, or a labels/points length
        mismatch raise :class:`DermasegError`.
        """
        h, w = size
        box = None
        if self.box is not None:
            b = np.asarray(self.box, dtype=np.float64).reshape(-1)
            if b.size != 4 or not np.all(np.isfinite(b)):
                raise DermasegError(f"box must be 4 finite numbers x0,y0,x1,y1, got {_nums(b)}")
            x0, x1 = sorted(b[[0, 2]])
            y0, y1 = sorted(b[[1, 3]])
            if x1 < 0 or y1 < 0 or x0 > w - 1 or y0 > h - 1:
                raise DermasegError(f"box {_nums(b)} lies outside the {w}x{h} image")
            box = (float(max(x0, 0)), float(max(y0, 0)), float(min(x1, w - 1)), float(min(y1, h - 1)))
        points = labels = None
        if self.points is not None and len(self.points):
            pts = np.asarray(self.points, dtype=np.float64).reshape(-1, 2)
            if not np.all(np.isfinite(pts)):
                raise DermasegError(f"points must be finite numbers, got {_nums(pts.reshape(-1))}")
            outside = [(float(x), float(y)) for x, y in pts if not _on_image(x, y, w, h)]
            if outside:
                x, y = outside[0]
                raise DermasegError(f"point {x:g},{y:g} lies outside the {w}x{h} image")
            lab = (np.ones(len(pts), np.int64) if self.labels is None
                   else np.asarray(self.labels, np.int64).reshape(-1))
            if len(lab) != len(pts):
                raise DermasegError(f"{len(pts)} points but {len(lab)} point labels")
            points = tuple((float(x), float(y)) for x, y in pts)
            labels = tuple(int(v) for v in lab)
        return Prompt(box=box, points=points, labels=labels, source=self.source)

    def describe(self, source: bool = True, compact: bool = False) -> str:
        """The one text for a prompt.

        Default: ``box 10,12,80,90 + point 40,50 [user]`` (``source=False`` leaves out `` [user]``).
        ``compact=True``: the CSV-cell form of per_image.csv, ``box=10.0 12.0 80.0 90.0;point=40.0 50.0+``
        (``+``/``-`` = the point's label; never the source, which has its own column). No prompt:
        ``none``.
        """
        parts = []
        pts = self.points if self.points is not None else ()
        labels = tuple(self.labels) if self.labels is not None else (1,) * len(pts)
        if compact:
            if self.box is not None:
                parts.append("box=" + " ".join(f"{float(v):.1f}" for v in self.box))
            for (x, y), lab in zip(np.asarray(pts, dtype=float).reshape(-1, 2).tolist(), labels, strict=False):
                parts.append(f"point={x:.1f} {y:.1f}{'+' if int(lab) == 1 else '-'}")
            return ";".join(parts) if parts else "none"
        if self.box is not None:
            parts.append("box " + ",".join(f"{v:g}" for v in np.round(self.box, 1)))
        for (x, y), lab in zip(pts, labels, strict=True):
            parts.append(f"{'point' if lab else 'negative point'} {x:g},{y:g}")
        text = " + ".join(parts) if parts else "none"
        return f"{text} [{self.source}]" if source and self.source else text


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
