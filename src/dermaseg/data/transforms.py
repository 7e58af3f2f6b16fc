"""Resizing to a model's input, and the augmentation and evaluation pipelines (albumentations), for
image H×W×3 uint8 + mask H×W uint8 {0,1}.

The resize rule (one rule for inference, training and every SAM task): :func:`resize_image` uses area
interpolation when the image shrinks in both directions (it averages, so no aliasing) and bilinear
otherwise; an image already at the size is returned as is. :func:`resize_mask` resamples the mask's
lesion fraction with the same rule and keeps the pixels where it is at least 0.5.

Levels of ``train_transform``:

- ``"none"``: resize + normalise (what ``eval_transform`` does).
- ``"paper"``: the U-Net paper's (seed 002): resize, rotation applied to every image (p = 1.0,
  albumentations' default ±90°), horizontal flip p 0.5, vertical flip p 0.1, normalise.
- ``"moderate"``: flips both ways p 0.5, ±30° rotation with ±10% scale and shift, mild colour jitter,
  a scale/crop (RandomResizedCrop, 60-100% of the area, 4:3 ± 15%) on 30% of images.
- ``"strong"``: moderate plus stronger colour jitter, Gaussian blur and hair-like dark curves
  (:func:`hair_artefacts`, the artefact that most often fools dermoscopy segmenters).

Every pipeline ends with normalisation by the model's ``mean``/``std`` on the 0..1 scale and returns
float32 H×W×3; the caller converts to a C×H×W tensor. Randomness is driven only by
:func:`seed_transform` (one numpy Generator + one ``random.Random`` shared by every step), so a sample
augmented with the same seed gives the same result in any worker or after a resume.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from dermaseg.errors import DermasegError

__all__ = ["resize_image", "resize_mask", "interpolation", "train_transform", "eval_transform", "seed_transform",
           "hair_artefacts", "LEVELS"]

LEVELS = ("none", "paper", "moderate", "strong")


def interpolation(src: tuple[int, ...], dst: tuple[int, int]) -> int:
    """The OpenCV interpolation for resizing an image of shape ``src`` (H, W, ...) to ``dst`` (h, w):
    ``INTER_AREA`` when both sides shrink, else ``INTER_LINEAR``."""
    import cv2

    return cv2.INTER_AREA if (src[0] > dst[0] and src[1] > dst[1]) else cv2.INTER_LINEAR


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Image H×W(×C) -> h×w(×C) with ``size`` = (h, w), by the module's resize rule (unchanged when the
    size is already right)."""
    import cv2

    h, w = int(size[0]), int(size[1])
    if tuple(image.shape[:2]) == (h, w):
        return image
    return cv2.resize(image, (w, h), interpolation=interpolation(image.shape, (h, w)))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bool (or 0/1) mask H×W -> bool h×w: the lesion fraction resized by :func:`resize_image`, >= 0.5."""
    return resize_image(np.asarray(mask, dtype=np.float32), size) >= 0.5


def _albumentations():
    import albumentations as A

    return A


def _hair_class():
    A = _albumentations()

    class HairArtefacts(A.ImageOnlyTransform):
        """Draw 1-8 thin dark curved strokes, like hairs on a dermoscopy image (image only).

        Each hair is a quadratic Bézier curve across a random part of the image, 1-2 px wide, coloured
        near-black brown. The mask is unchanged: hairs over a lesion are still lesion.
        """

        def __init__(self, max_hairs: int = 8, p: float = 0.3) -> None:
            super().__init__(p=p)
            self.max_hairs = int(max_hairs)

        def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
            h, w = params["shape"][:2]
            rng = self.random_generator
            n = int(rng.integers(1, self.max_hairs + 1))
            curves = []
            for _ in range(n):
                pts = rng.uniform([0, 0], [w, h], size=(3, 2))
                colour = rng.uniform(10, 60, size=3) * np.array([1.0, 0.8, 0.7])
                curves.append((pts, colour, int(rng.integers(1, 3))))
            return {"curves": curves}

        def apply(self, img: np.ndarray, curves=(), **params: Any) -> np.ndarray:
            import cv2

            out = img.copy()
            t = np.linspace(0.0, 1.0, 40)[:, None]
            for pts, colour, width in curves:
                p0, p1, p2 = pts
                line = ((1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2).round().astype(np.int32)
                cv2.polylines(out, [line.reshape(-1, 1, 2)], False, tuple(float(c) for c in colour), width,
                              lineType=cv2.LINE_AA)
            return out

        def get_transform_init_args_names(self) -> tuple[str, ...]:
            return ("max_hairs",)

    return HairArtefacts


def hair_artefacts(p: float = 0.3, max_hairs: int = 8):
    """An albumentations transform drawing 1-``max_hairs`` hair-like dark curves with probability ``p``."""
    return _hair_class()(max_hairs=max_hairs, p=p)


def _normalize(A, mean: Sequence[float], std: Sequence[float]):
    return A.Normalize(mean=tuple(mean), std=tuple(std), max_pixel_value=255.0)


def eval_transform(size: tuple[int, int], mean: Sequence[float], std: Sequence[float]):
    """Resize to ``size`` = (H, W) (nearest for the mask) and normalise."""
    A = _albumentations()
    h, w = size
    return A.Compose([A.Resize(h, w), _normalize(A, mean, std)])


def train_transform(size: tuple[int, int], mean: Sequence[float], std: Sequence[float],
                    level: str = "moderate"):
    """The training pipeline for ``level`` in :data:`LEVELS`, output (H, W) = ``size``."""
    A = _albumentations()
    if level not in LEVELS:
        raise DermasegError(f"unknown augmentation '{level}'; choose one of {', '.join(LEVELS)}")
    h, w = size
    steps: list[Any] = [A.Resize(h, w)]
    if level == "paper":
        steps += [A.Rotate(limit=90, p=1.0), A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.1)]
    elif level in ("moderate", "strong"):
        strong = level == "strong"
        steps += [
            A.RandomResizedCrop(size=(h, w), scale=(0.6, 1.0), ratio=(w / h * 0.85, w / h * 1.15), p=0.3),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.Affine(rotate=(-30, 30), scale=(0.9, 1.1), translate_percent=(-0.1, 0.1),
                     border_mode=0, p=0.7),
            A.ColorJitter(brightness=0.3 if strong else 0.2, contrast=0.3 if strong else 0.2,
                          saturation=0.3 if strong else 0.15, hue=0.05 if strong else 0.02,
                          p=0.8 if strong else 0.5),
        ]
        if strong:
            steps += [A.GaussianBlur(blur_limit=(3, 5), p=0.2), hair_artefacts(p=0.3)]
    steps.append(_normalize(A, mean, std))
    return A.Compose(steps)


def seed_transform(transform, seed: int) -> None:
    """Drive every random step of ``transform`` from one seed (shared generators, not one per step)."""
    transform.set_random_state(np.random.default_rng(seed), random.Random(seed))
