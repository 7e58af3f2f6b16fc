"""Training tasks for SAM-family models: ``skinsam-*`` (cached embeddings) and ``melseg-*`` (end to end).

Both work in the model frame: each image is resized so its longest side is the encoder's ``S`` (256 for
LiteMedSAM, 1024 for SAM/MobileSAM), normalised as the model does, padded bottom-right to S×S. Targets
are the mask in that padded frame at the decoder's 256×256 output resolution; the loss compares them
with the decoder's low-resolution logits (as SAM and MedSAM were trained).

Prompts are simulated from the truth with SkinSAM's jitter (:func:`dermaseg.data.prompts.skinsam_prompt`)
on the mask resized to the model frame; training draws a new jitter per (seed, epoch, image), the
per-epoch validation one fixed draw per image (seed of the run). The final scores of a run come from the
Predictor with the prompt simulated at each image's own resolution, as ``dermaseg evaluate --prompt box``
(:func:`dermaseg.training.run.validate_best`). The prompt kind is the recipe's ``prompt``
(``box``, ``point`` or ``box+point``). Scores of these runs are *with ground-truth prompts* and say so.

``skinsam``: the frozen encoder's embeddings are computed once per image and kept on disk
(:class:`~dermaseg.training.caches.EmbeddingCache`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dermaseg.data.prompts import skinsam_prompt
from dermaseg.data.transforms import resize_mask
from dermaseg.errors import DermasegError
from dermaseg.io import read_image, read_mask
from dermaseg.models.sam.common import resize_longest
from dermaseg.models.sam.fast_inference import FastEncoder
from dermaseg.training.caches import EmbeddingCache, EpochSampler, sample_seed, shard_indices
from dermaseg.training.distributed import DistContext, per_rank_batch
from dermaseg.training.interactive import interactive_forward
from dermaseg.training.recipes import Recipe

__all__ = ["SamTask", "make_sam_task"]

LOW_RES = 256


class _Items(Dataset):
    """Per-image tensors for the SAM tasks (see :class:`SamTask`)."""

    def __init__(self, task: SamTask, indices: Sequence[int], train: bool) -> None:
        self.task, self.indices, self.train = task, list(indices), train
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        t = self.task
        j = self.indices[i]
        seed = sample_seed(t.seed, self.epoch, j) if self.train else t.seed
        mask = t.masks[j]
        p = skinsam_prompt(mask, kind="box+point", seed=seed, image_id=t.samples[j].id)
        h, w = mask.shape
        box = p.box if p.box is not None else (0.0, 0.0, w - 1.0, h - 1.0)
        point = p.points[0] if p.points else ((w - 1) / 2.0, (h - 1) / 2.0)
        lh = min(LOW_RES, int(np.ceil(h * LOW_RES / t.model.image_size)))
        lw = min(LOW_RES, int(np.ceil(w * LOW_RES / t.model.image_size)))
        item = {"box": torch.tensor(box, dtype=torch.float32), "valid": torch.tensor([lh, lw]),
                "point": torch.tensor([point], dtype=torch.float32),
                "target": torch.from_numpy(t.targets[j].astype(np.float32))[None], "index": j}
        if t.mode == "embedding" and t.embeddings is not None:
            item["embedding"] = torch.from_numpy(np.array(t.embeddings[j], dtype=np.float32))
        else:
            item["image"] = t.model.normalise(t.images[j], device="cpu")
        return item


class SamTask:
    """Data and forward pass for ``skinsam`` (``mode="embedding"``) and ``melseg`` (``mode="image"``); a
    :class:`~dermaseg.training.tasks.TrainingTask`."""

    def __init__(self, model, recipe: Recipe, train: Sequence[Any], val: Sequence[Any], mode: str,
                 seed: int = 0, workers: int = 0, device="cpu", progress: bool = True,
                 cache_dir: Path | None = None, use_cache: bool = True, dist: DistContext | None = None) -> None:
        self.model, self.recipe, self.mode = model, recipe, mode
        self.dist = dist or DistContext(device=str(device))
        self.batch = per_rank_batch(recipe.batch_size, self.dist.world_size)
        self.embeddings_computed = 0
        self.seed, self.workers, self.device = int(seed), int(workers), torch.device(device)
        self.progress = progress
        self.train_samples, self.val_samples = list(train), list(val)
        self.samples = self.train_samples + self.val_samples
        self.use_cache = use_cache and mode == "embedding"
        self.cache = EmbeddingCache(model, cache_dir) if self.use_cache else None
        self.embeddings: list[np.ndarray] | None = None
        if mode == "embedding":  # the encoder is frozen: embed through the fused inference copy
            self._frozen_encoder = FastEncoder(model)
        self._read_all()
        n = len(self.train_samples)
        self.train_data = _Items(self, range(n), train=True)
        self.val_data = _Items(self, range(n, len(self.samples)), train=False)
        self.sampler = EpochSampler(n, seed=self.seed, batch_size=recipe.batch_size,
                                    world_size=self.dist.world_size, rank=self.dist.rank)

    # ---- data ----------------------------------------------------------------------------------------
    def _read_all(self) -> None:
        s = self.model.image_size
        self.images, self.masks, self.targets = [], [], []
        for smp in self.samples:
            rgb = read_image(smp.image)
            truth = read_mask(smp.mask)
            resized, _ = resize_longest(rgb, s)
            h, w = resized.shape[:2]
            m = resize_mask(truth, (h, w))
            padded = np.zeros((s, s), np.float32)
            padded[:h, :w] = m
            self.targets.append(resize_mask(padded, (LOW_RES, LOW_RES)))
            self.masks.append(m)
            self.images.append(resized)

    def prepare(self) -> None:
        """Fill the embedding cache (skinsam): one frozen-encoder pass per image not cached yet, the work
        shared by the ranks of a distributed run and safe beside other processes filling the same cache
        (:meth:`~dermaseg.training.caches.EmbeddingCache.fill`)."""
        if not self.use_cache or self.embeddings is not None:
            return
        enc_device = next(self.model.image_encoder.parameters()).device
        self.model.image_encoder.eval()

        def compute(i: int) -> torch.Tensor:
            with torch.no_grad():
                x = self.model.normalise(self.images[i], device="cpu")[None].to(enc_device)
                return self._frozen_encoder(x)[0]

        d = self.dist
        paths, self.embeddings_computed = self.cache.fill(
            [s.image for s in self.samples], compute, rank=d.rank, world_size=d.world_size,
            barrier=d.barrier if d.active else None, progress=self.progress)
        self.embeddings = [self.cache.load(p) for p in paths]
        self.images = [None] * len(self.images)  # embeddings replace the pixels from here on

    def _loader(self, data, sampler=None, batch_size: int = 1, drop_last: bool = False):
        return DataLoader(data, batch_size=batch_size, sampler=sampler, num_workers=self.workers,
                          drop_last=drop_last, pin_memory=self.device.type == "cuda")

    def train_batches(self, epoch: int):
        """This rank's shuffled batches of epoch ``epoch`` (global batch / world size images each)."""
        self.prepare()
        self.train_data.epoch = epoch
        self.sampler.set_epoch(epoch)
        return self._loader(self.train_data, self.sampler, self.batch)

    def val_batches(self):
        """This rank's share of the validation images (all of them in one process)."""
        if not self.val_samples:
            return []
        self.prepare()
        share = shard_indices(len(self.val_data), self.dist.world_size, self.dist.rank)
        return self._loader(self.val_data, share, batch_size=self.batch)

    # ---- model ---------------------------------------------------------------------------------------
    def _prompts(self, batch) -> dict[str, torch.Tensor | None]:
        kind = self.recipe.prompt
        pts = batch["point"].to(self.device) if "point" in kind else None
        return {"boxes": batch["box"].to(self.device) if "box" in kind else None, "points": pts,
                "labels": torch.ones(pts.shape[:2], dtype=torch.int64, device=self.device)
                if pts is not None else None}

    def _embed(self, model, batch) -> torch.Tensor:
        if "embedding" in batch:
            return batch["embedding"].to(self.device)
        x = batch["image"].to(self.device)
        if self.mode == "embedding":  # skinsam without the cache: the frozen encoder, every step
            with torch.no_grad():
                return self._frozen_encoder(x) if model is self.model else model.encode(x)
        return model.encode(x)

    def forward(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (low-res logits B×1×256×256, target B×1×256×256); with the recipe's ``clicks`` > 0 the
        interactive episode of :func:`~dermaseg.training.interactive.interactive_forward` (2B×1×256×256)."""
        if self.recipe.clicks > 0:

            train = torch.is_grad_enabled()
            first = int(batch["index"][0])
            rng = np.random.default_rng([self.seed, self.train_data.epoch if train else 2**31 - 1, first])
            return interactive_forward(model, self._embed(model, batch), batch["box"].to(self.device),
                                       batch["target"].to(self.device), batch["valid"], rng,
                                       max_clicks=self.recipe.clicks, train=train)
        logits, _ = model.decode(self._embed(model, batch), multimask=False, **self._prompts(batch))
        return logits, batch["target"].to(self.device)


def make_sam_task(model, recipe: Recipe, train, val, seed: int = 0, workers: int = 0, device="cpu",
                  progress: bool = True, cache_dir: Path | None = None, use_cache: bool = True,
                  dist: DistContext | None = None) -> SamTask:
    """The task for a ``skinsam`` or ``melseg`` recipe."""
    if recipe.kind not in ("skinsam", "melseg"):
        raise DermasegError(f"recipe '{recipe.name}': kind '{recipe.kind}' is not a SAM task")
    if not hasattr(model, "image_encoder"):
        raise DermasegError(f"recipe '{recipe.name}' needs a skinsam-/melseg- model, not "
                            f"'{model.config.get('name')}'")
    model.to(device)
    return SamTask(model, recipe, train, val, mode="embedding" if recipe.kind == "skinsam" else "image",
                   seed=seed, workers=workers, device=device, progress=progress, cache_dir=cache_dir,
                   use_cache=use_cache, dist=dist)
