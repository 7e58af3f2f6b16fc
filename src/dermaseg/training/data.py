"""Training data: decoded images cached in RAM at the model's size, augmented per (seed, epoch, index).

2000 ISIC images at 192×256 are ~300 MB as uint8, so every image is decoded and resized once (in the
main process, before any DataLoader worker starts) and each epoch only augments arrays in memory: CPU
epochs are not dominated by JPEG decoding. The cache is kept per process and shared by the folds of a
cross-validation or the runs of a sweep.

Randomness: the order of the samples in epoch ``e`` is a permutation drawn from ``(seed, e)``, and the
augmentation of sample ``i`` in epoch ``e`` is seeded from ``(seed, e, i)``; so an epoch is the same in
any worker layout and after a resume.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dermaseg.errors import DataError

__all__ = ["load_cached", "CachedSegmentationData", "EpochSampler", "resize_pair", "clear_cache"]

_CACHE: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def clear_cache() -> None:
    """Forget every cached image (tests)."""
    _CACHE.clear()


def resize_pair(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 H×W×3 and bool mask H×W -> both at ``size`` = (h, w) by the one resize rule
    (:func:`~dermaseg.data.transforms.resize_image`, :func:`~dermaseg.data.transforms.resize_mask`);
    the mask as uint8 {0, 1}."""
    from dermaseg.data.transforms import resize_image, resize_mask

    return np.ascontiguousarray(resize_image(rgb, size)), resize_mask(mask, size).astype(np.uint8)


def load_cached(samples: Sequence[Any], size: tuple[int, int], progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize every sample once: -> images N×h×w×3 uint8, masks N×h×w uint8 {0,1}."""
    from tqdm.auto import tqdm

    from dermaseg.io import read_image, read_mask

    h, w = size
    images = np.empty((len(samples), h, w, 3), np.uint8)
    masks = np.empty((len(samples), h, w), np.uint8)
    todo = [i for i, s in enumerate(samples) if (str(s.image), h, w) not in _CACHE]
    for i in tqdm(todo, desc=f"caching images at {h}x{w}", disable=not progress or len(todo) < 50,
                  leave=False):
        s = samples[i]
        if s.mask is None:
            raise DataError(f"{s.image}: no mask for this image; training needs a mask for every image")
        rgb = read_image(s.image)
        m = read_mask(s.mask)
        if m.shape != rgb.shape[:2]:
            raise DataError(f"{s.mask}: mask is {m.shape[1]}x{m.shape[0]} but its image is "
                            f"{rgb.shape[1]}x{rgb.shape[0]}")
        _CACHE[(str(s.image), h, w)] = resize_pair(rgb, m, size)
    for i, s in enumerate(samples):
        images[i], masks[i] = _CACHE[(str(s.image), h, w)]
    return images, masks


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for augmenting sample ``index`` in ``epoch``."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class CachedSegmentationData(Dataset):
    """Items ``(image 3×h×w float32 normalised, mask 1×h×w float32 {0,1}, index)`` from cached arrays."""

    def __init__(self, images: np.ndarray, masks: np.ndarray, transform, seed: int = 0,
                 random: bool = True) -> None:
        self.images, self.masks = images, masks
        self.transform = transform
        self.seed = int(seed)
        self.random = random
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        from dermaseg.data.transforms import seed_transform

        if self.random:
            seed_transform(self.transform, sample_seed(self.seed, self.epoch, index))
        out = self.transform(image=self.images[index], mask=self.masks[index])
        x = torch.from_numpy(np.ascontiguousarray(out["image"].transpose(2, 0, 1)))
        y = torch.from_numpy(np.ascontiguousarray(out["mask"], dtype=np.float32))[None]
        return x, y, index


class EpochSampler(Sampler[int]):
    """A permutation of ``range(n)`` drawn from ``(seed, epoch)``; call :meth:`set_epoch` each epoch."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = int(n), int(seed), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.n))
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n
