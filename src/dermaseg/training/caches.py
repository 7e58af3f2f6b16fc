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
``~/.cache/dermaseg/embeddings``. Several processes may fill one cache at once
(:meth:`EmbeddingCache.fill`: ranks share the work, independent processes claim images by lock file).

Randomness: the order of the samples in epoch ``e`` is a permutation drawn from ``(seed, e)``, and the
augmentation of sample ``i`` in epoch ``e`` is seeded from ``(seed, e, i)``; so an epoch is the same in
any worker layout and after a resume.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from dermaseg.data.transforms import resize_image, resize_mask, seed_transform
from dermaseg.errors import DataError
from dermaseg.io import atomic_path, read_image, read_mask

__all__ = ["load_cached", "CachedSegmentationData", "EpochSampler", "rank_indices", "shard_indices", "resize_pair",
           "clear_cache", "sample_seed", "EmbeddingCache", "default_cache_dir", "encoder_fingerprint"]

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


def rank_indices(order: Sequence[int], batch_size: int, world_size: int = 1, rank: int = 0) -> list[int]:
    """Rank ``rank``'s share of an epoch whose sample order is ``order``, cut into global batches of
    ``batch_size``: positions ``[rank·b, (rank+1)·b)`` of each global batch, ``b`` = its size //
    ``world_size``. The last, incomplete global batch of m images keeps its first m − (m mod world_size),
    so every rank steps equally often on equally many images (the rest sit this epoch out; the next epoch's
    permutation differs). One rank: ``order`` itself."""
    order = list(order)
    if world_size == 1:
        return order
    out: list[int] = []
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        b = len(chunk) // world_size
        out.extend(chunk[rank * b:(rank + 1) * b])
    return out


def shard_indices(n: int, world_size: int = 1, rank: int = 0) -> list[int]:
    """Rank ``rank``'s share of ``n`` fixed items (validation): ``rank, rank + W, ...``; together the ranks
    cover every item once."""
    return list(range(rank, n, world_size))


class EpochSampler(Sampler[int]):
    """A permutation of ``range(n)`` drawn from ``(seed, epoch)``; call :meth:`set_epoch` each epoch. With
    ``world_size`` > 1, this rank's share of it (:func:`rank_indices` with the global ``batch_size``)."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, batch_size: int = 1, world_size: int = 1,
                 rank: int = 0) -> None:
        self.n, self.seed, self.shuffle, self.epoch = int(n), int(seed), shuffle, 0
        self.batch_size, self.world_size, self.rank = int(batch_size), int(world_size), int(rank)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[int]:
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist() if self.shuffle
                 else list(range(self.n)))
        return iter(rank_indices(order, self.batch_size, self.world_size, self.rank))

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.n
        b = self.batch_size // self.world_size
        return (self.n // self.batch_size) * b + (self.n % self.batch_size) // self.world_size


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

    def fill(self, images: Sequence[Path], compute: Callable[[int], torch.Tensor], rank: int = 0,
             world_size: int = 1, barrier: Callable[[], None] | None = None, progress: bool = False,
             stale_seconds: float = 900.0) -> tuple[list[Path], int]:
        """Make sure every image of ``images`` has its embedding on disk (``compute(i)`` -> C×h×w makes the
        i-th); returns (the cache paths, how many this process computed).

        Several writers at once are safe and share the work: the ranks of a process group take disjoint
        shares of what is missing (``todo[rank::world_size]``) and meet at ``barrier``; independent
        processes (Ray workers, two runs on one cache) claim each image with an exclusive lock file
        (``<key>.npy.lock``, created with O_EXCL) and skip images another process holds, then wait for
        those to appear. A lock whose process is gone (same host) or older than ``stale_seconds`` is
        taken over. Files appear atomically, so a reader never sees half an embedding."""
        from tqdm.auto import tqdm

        paths = [self.path_for(p) for p in images]
        todo = [i for i, p in enumerate(paths) if not p.is_file()]
        computed = 0
        mine = todo[rank::world_size]
        for i in tqdm(mine, desc="caching image embeddings", disable=not progress or not mine, leave=False):
            computed += self._claim_and_compute(paths[i], i, compute, stale_seconds)
        if barrier is not None:
            barrier()
        for i in todo:  # held by another process, or a share of a rank that failed: wait, or take over
            while not paths[i].is_file():
                if self._claim_and_compute(paths[i], i, compute, stale_seconds):
                    computed += 1
                elif not paths[i].is_file():
                    time.sleep(0.05)
        return paths, computed

    def _claim_and_compute(self, path: Path, i: int, compute: Callable[[int], torch.Tensor],
                           stale_seconds: float) -> bool:
        """Compute and store embedding ``i`` under an exclusive lock; False when another process holds
        it or the file exists already."""
        self.dir.mkdir(parents=True, exist_ok=True)
        lock = path.with_name(path.name + ".lock")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _lock_is_stale(lock, stale_seconds):
                lock.unlink(missing_ok=True)
            return False
        try:
            os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
            if path.is_file():
                return False
            self.store(path, compute(i))
            return True
        finally:
            os.close(fd)
            lock.unlink(missing_ok=True)


def _lock_is_stale(lock: Path, stale_seconds: float) -> bool:
    """A lock left by a process that is gone (on this host), or older than ``stale_seconds``."""
    try:
        text = lock.read_text()
        age = time.time() - lock.stat().st_mtime
    except OSError:
        return False  # released meanwhile
    host, _, pid = text.partition(" ")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    return age > stale_seconds
