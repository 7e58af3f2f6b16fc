"""Training-data caches: decoded images in RAM at the model's size (CNN tasks), and the SkinSAM image
embeddings on disk (:class:`EmbeddingCache`); plus the per-epoch sampling both kinds of task use.

RAM image cache: images are augmented per (seed, epoch, index).

2000 ISIC images at 192×256 are ~300 MB as uint8, so every image is decoded and resized once (in the
main process, before any DataLoader worker starts) and each epoch only augments arrays in memory: CPU
epochs are not dominated by JPEG decoding. The cache is kept per process and shared by the folds of a
cross-validation or the runs of a sweep.

Embedding cache (``skinsam``): the frozen encoder's embeddings (256×64×64) are computed once per image and
stored as fp16 ``.npy`` files read back memory-mapped, under ``<cache_dir>/<base model>-<encoder
fingerprint>/<sha1 of the image file>.npy``; the fingerprint hashes the encoder's weights, so a different
encoder never reads stale embeddings. The default cache dir is ``$DERMASEG_CACHE/embeddings`` or
``~/.cache/dermaseg/embeddings``.

Randomness: the order of the samples in epoch ``e`` is a permutation drawn from ``(seed, e)``, and the
augmentation of sample ``i`` in epoch ``e`` is seeded from ``(seed, e, i)``; so an epoch is the same in
any worker layout and after a resume.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dermaseg.data.transforms import resize_image, resize_mask, seed_transform
from dermaseg.errors import DataError
from dermaseg.io import atomic_path, read_image, read_mask

__all__ = ["load_cached", "CachedSegmentationData", "EpochSampler", "resize_pair", "clear_cache", "sample_seed",
           "EmbeddingCache", "default_cache_dir", "encoder_fingerprint"]

_CACHE: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray]] = {}


def clear_cache() -> None:
    """Forget every cached image (tests)."""
    _CACHE.clear()


def resize_pair(rgb: np.ndarray, mask: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 H×W×3 and bool mask H×W -> both at ``size`` = (h, w) by the one resize rule
    (:func:`~dermaseg.data.transforms.resize_image`, :func:`~dermaseg.data.transforms.resize_mask`);
    the mask as uint8 {0, 1}."""
    return np.ascontiguousarray(resize_image(rgb, size)), resize_mask(mask, size).astype(np.uint8)


def load_cached(samples: Sequence[Any], size: tuple[int, int], progress: bool = True
                ) -> tuple[np.ndarray, np.ndarray]:
    """Decode and resize every sample once: -> images N×h×w×3 uint8, masks N×h×w uint8 {0,1}."""
    from tqdm.auto import tqdm

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


def default_cache_dir() -> Path:
    """``$DERMASEG_CACHE/embeddings``, else ``~/.cache/dermaseg/embeddings``."""
    env = os.environ.get("DERMASEG_CACHE")
    return Path(env).expanduser() / "embeddings" if env else Path.home() / ".cache" / "dermaseg" / "embeddings"


def encoder_fingerprint(model) -> str:
    """sha1 over the image encoder's tensors (names, shapes, bytes) plus the preprocessing settings."""
    h = hashlib.sha1(f"{model.image_size}:{model.normalization}".encode())
    for k, v in model.image_encoder.state_dict().items():
        h.update(k.encode())
        h.update(str(tuple(v.shape)).encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class EmbeddingCache:
    """fp16 image embeddings on disk, one memory-mapped ``.npy`` per image content hash (module docstring)."""

    def __init__(self, model, root: Path | None = None) -> None:
        base = model.config.get("base", model.config.get("name", "sam"))
        self.dir = Path(root or default_cache_dir()) / f"{base}-{encoder_fingerprint(model)[:12]}"
        self.model = model

    @staticmethod
    def content_key(path: Path) -> str:
        return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:24]

    def path_for(self, image: Path) -> Path:
        return self.dir / f"{self.content_key(image)}.npy"

    def load(self, path: Path) -> np.ndarray:
        """The embedding 256×64×64 fp16, memory-mapped."""
        return np.load(path, mmap_mode="r")

    def store(self, path: Path, embedding: torch.Tensor) -> None:
        """Write one embedding C×h×w as fp16, atomically."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, embedding.detach().to(torch.float16).cpu().numpy())
