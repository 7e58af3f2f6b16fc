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
from dermaseg.training.caches import CachedSegmentationData, EpochSampler, load_cached
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
                 workers: int = 0, device: torch.device | str = "cpu", progress: bool = True) -> None:
        self.recipe, self.seed, self.workers = recipe, int(seed), int(workers)
        self.train_samples, self.val_samples = list(train), list(val)
        self.size = tuple(model.input_size)
        self.device = torch.device(device)
        mean, std = model.mean, model.std
        ti, tm = load_cached(self.train_samples, self.size, progress)
        self.train_data = CachedSegmentationData(ti, tm, train_transform(self.size, mean, std, recipe.augment),
                                                 seed=self.seed)
        self.sampler = EpochSampler(len(ti), seed=self.seed)
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
        """Shuffled, augmented batches of epoch ``epoch`` (a 1-image last batch is dropped: BatchNorm)."""
        self.train_data.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        bs = self.recipe.batch_size
        drop = len(self.train_data) % bs == 1 and len(self.train_data) > bs
        return self._loader(self.train_data, self.sampler, bs, drop_last=drop)

    def val_batches(self):
        if self.val_data is None:
            return []
        return self._loader(self.val_data, batch_size=max(1, self.recipe.batch_size))

    def forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _ = batch
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        return model(x), y


def make_task(model, recipe: Recipe, train, val, seed: int = 0, workers: int = 0, device="cpu",
              progress: bool = True, cache_dir=None) -> TrainingTask:
    """The task for ``recipe.kind``: ``cnn``, ``skinsam`` or ``melseg``."""
    if recipe.kind == "cnn":
        return CNNTask(model, recipe, train, val, seed=seed, workers=workers, device=device, progress=progress)
    return make_sam_task(model, recipe, train, val, seed=seed, workers=workers, device=device,
                                   progress=progress, cache_dir=cache_dir)
