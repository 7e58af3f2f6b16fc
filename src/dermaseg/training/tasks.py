"""Tasks adapt the one :class:`~dermaseg.training.trainer.Trainer` to a model family.

A task (:class:`TrainingTask`) owns the data side of a run: the training and validation batches and how
a batch goes through the model (``forward(model, batch) -> (logits B×1×h×w, target B×1×h×w)``), at the
model's own resolution. The final scores at each image's own resolution are not a task's business: the
run scores ``best.pt`` through the Predictor and the evaluator (:mod:`dermaseg.training.run`).
:class:`CNNTask` serves ``unet-*`` / ``fpn-*``; the SAM tasks live in :mod:`dermaseg.training.sam_tasks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from dermaseg.data.transforms import eval_transform, train_transform
from dermaseg.training.caches import CachedSegmentationData, EpochSampler, load_cached, shard_indices
from dermaseg.training.distributed import DistContext, per_rank_batch
from dermaseg.training.recipes import Recipe
from dermaseg.training.sam_tasks import make_sam_task

__all__ = ["TrainingTask", "CNNTask", "make_task"]


@runtime_checkable
class TrainingTask(Protocol):
    """What the :class:`~dermaseg.training.trainer.Trainer` needs of a task."""

    #: the validation samples (empty: no validation; every epoch's checkpoint is then the best)
    val_samples: Sequence[Any]

    def prepare(self) -> None:
        """Work done once before the first epoch, outside any epoch's time (e.g. fill a cache)."""

    def train_batches(self, epoch: int) -> Iterable[Any]:
        """The batches of epoch ``epoch`` (shuffled and augmented from the run's seed and ``epoch``)."""

    def val_batches(self) -> Iterable[Any]:
        """The validation batches (fixed)."""

    def forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch through ``model`` -> (logits B×1×h×w, target B×1×h×w in {0, 1})."""


class CNNTask:
    """Image -> logits training on RAM-cached images at the model's ``input_size``."""

    def __init__(self, model, recipe: Recipe, train: Sequence[Any], val: Sequence[Any], seed: int = 0,
                 workers: int = 0, device: torch.device | str = "cpu", progress: bool = True,
                 dist: DistContext | None = None) -> None:
        self.recipe, self.seed, self.workers = recipe, int(seed), int(workers)
        self.dist = dist or DistContext(device=str(device))
        self.batch = per_rank_batch(recipe.batch_size, self.dist.world_size)
        self.train_samples, self.val_samples = list(train), list(val)
        self.size = tuple(model.input_size)
        self.device = torch.device(device)
        mean, std = model.mean, model.std
        ti, tm = load_cached(self.train_samples, self.size, progress)
        self.train_data = CachedSegmentationData(ti, tm, train_transform(self.size, mean, std, recipe.augment),
                                                 seed=self.seed)
        self.sampler = EpochSampler(len(ti), seed=self.seed, batch_size=recipe.batch_size,
                                    world_size=self.dist.world_size, rank=self.dist.rank)
        if self.val_samples:
            vi, vm = load_cached(self.val_samples, self.size, progress)
            self.val_data = CachedSegmentationData(vi, vm, eval_transform(self.size, mean, std), random=False)
        else:
            self.val_data = None

    def prepare(self) -> None:
        """Nothing to do: the images were cached in RAM when the task was made."""

    def _loader(self, data, sampler=None, batch_size: int = 1, drop_last: bool = False):
        from torch.utils.data import DataLoader

        return DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=self.workers,
                          drop_last=drop_last, pin_memory=self.device.type == "cuda",
                          persistent_workers=False)

    def train_batches(self, epoch: int):
        """Shuffled, augmented batches of epoch ``epoch``: this rank's share, global batch / world size
        images each (:class:`~dermaseg.training.caches.EpochSampler`). In one process a 1-image last batch
        is dropped (BatchNorm); in W > 1 processes the last global batch keeps a multiple of W images."""
        self.train_data.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        n, bs = len(self.train_data), self.recipe.batch_size
        drop = self.dist.world_size == 1 and n % bs == 1 and n > bs
        return self._loader(self.train_data, self.sampler, self.batch, drop_last=drop)

    def val_batches(self):
        """This rank's share of the validation images (all of them in one process), fixed order."""
        if self.val_data is None:
            return []
        share = shard_indices(len(self.val_data), self.dist.world_size, self.dist.rank)
        return self._loader(self.val_data, share, batch_size=max(1, self.batch))

    def forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = batch
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        return model(x), y


def make_task(model, recipe: Recipe, train, val, seed: int = 0, workers: int = 0, device="cpu",
              progress: bool = True, cache_dir=None, dist: DistContext | None = None) -> TrainingTask:
    """The task for ``recipe.kind``: ``cnn``, ``skinsam`` or ``melseg``; ``dist``: this rank's share of
    the data in a distributed run (:mod:`dermaseg.training.distributed`)."""
    if recipe.kind == "cnn":
        return CNNTask(model, recipe, train, val, seed=seed, workers=workers, device=device, progress=progress,
                       dist=dist)
    return make_sam_task(model, recipe, train, val, seed=seed, workers=workers, device=device,
                         progress=progress, cache_dir=cache_dir, dist=dist)
