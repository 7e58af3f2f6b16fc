"""``dermaseg train``: resolve the recipe and the data, then train one run or K folds, and print the result.

Above :mod:`dermaseg.training.run` (one run) and :mod:`dermaseg.training.cv` (K folds of runs): the command
line's choices are made here and nowhere below.

Validation data of one run: the dataset's own ``val`` split when it has a ``train`` and a ``val`` split
(ISIC 2017: Training + Validation); otherwise a hold-out of ``recipe.val_fraction`` of the training images,
grouped by lesion so no lesion is on both sides (:func:`dermaseg.data.splits.holdout`). With ``--folds K``
(or a recipe with ``folds``) every fold of the grouped splits runs (:func:`dermaseg.training.cv.run_cv`),
here one after another or, with ``--executor ray``, as Ray Tune trials. Under ``torchrun`` (or ``--nproc N``,
:mod:`dermaseg.training.launch`) the same command trains one DDP run across the processes
(:mod:`dermaseg.training.distributed`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from dermaseg.data.readers import load_dataset
from dermaseg.data.sampling import sample_subset
from dermaseg.data.splits import holdout
from dermaseg.errors import DataError, DermasegError
from dermaseg.io import check_out, read_image, read_mask
from dermaseg.ray_cluster import check_executor
from dermaseg.training.cv import run_cv
from dermaseg.training.cv_final import FINAL_CHOICES, refit_final
from dermaseg.training.distributed import context, launched_by_torchrun, per_rank_batch, teardown
from dermaseg.training.finetune import FREEZE_CHOICES, apply_init
from dermaseg.training.recipes import Recipe, get_recipe
from dermaseg.training.run import train_run
from dermaseg.training.tracking import open_tracker

__all__ = ["train_cli", "resolve_recipe", "train_val_split", "check_launch"]


def resolve_recipe(recipe: str | Recipe, model: str | None = None, epochs: int | None = None,
                   lr: float | None = None, batch_size: int | None = None, image_size: int | None = None,
                   loss: str | None = None, optimizer: str | None = None, init: str | None = None,
                   freeze: str | None = None) -> Recipe:
    """The named recipe with command-line overrides. ``image_size`` S sets the longest side to S and
    keeps the recipe's aspect (sides rounded to multiples of 32). ``init`` (or the recipe's own, as
    ``finetune``'s ``default``): the model the run starts from, which sets the architecture, input size
    and post-processing (:func:`dermaseg.training.finetune.apply_init`); ``freeze``: ``encoder``."""
    r = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if freeze is not None:
        if freeze not in FREEZE_CHOICES:
            raise DermasegError(f"--freeze {freeze}: choose one of {', '.join(FREEZE_CHOICES)}")
        r = r.override(freeze=freeze)
    if init is not None or r.init is not None:
        if init is None and model is not None and model != r.model:
            r = dataclasses.replace(r, init=None)  # --recipe finetune --model X: X from its ImageNet start
        else:
            r = apply_init(r, init, model=model, image_size=image_size)
            return r.override(epochs=epochs, lr=lr, batch_size=batch_size, loss=loss, optimizer=optimizer)
    size = None
    if image_size is not None:
        h, w = r.input_size
        s = int(image_size)
        if h <= w:
            size = (max(32, round(s * h / w / 32) * 32), max(32, round(s / 32) * 32))
        else:
            size = (max(32, round(s / 32) * 32), max(32, round(s * w / h / 32) * 32))
    return r.with_model(model).override(epochs=epochs, lr=lr, batch_size=batch_size, input_size=size,
                      loss=loss, optimizer=optimizer)


def train_val_split(dataset, recipe: Recipe, seed: int = 0, limit: int | None = None) -> tuple[list, list, str]:
    """(train samples, val samples, how the split was made). ``limit`` N: a seeded sample of N training
    images stratified by diagnosis (:func:`dermaseg.data.sampling.sample_subset`, as ``evaluate --limit``),
    drawn before a hold-out is made. Fewer held-out images than ``recipe.min_val``: all train, no
    validation, the last epoch is kept (said in the note)."""
    present = dataset.splits_present
    if "train" in present and "val" in present:
        train = list(dataset.select("train"))
        note = "the dataset's own train/val splits"
        if limit is not None:
            train, info = sample_subset(train, limit, "stratified", seed)
            note += f"; {len(train)} training images sampled stratified by diagnosis (seed {seed})"
        return train, list(dataset.select("val")), note
    base = list(dataset.select("train")) if "train" in present else [
        s for s in dataset.samples if s.split != "test"]
    sampled = ""
    if limit is not None:
        base, _ = sample_subset(base, limit, "stratified", seed)
        sampled = f"{len(base)} images sampled stratified by diagnosis (seed {seed}), then "
    train, val = holdout(base, recipe.val_fraction, seed)
    if recipe.min_val and len(val) < recipe.min_val:
        print(f"warning: {len(base)} images give {len(val)} held-out image(s), fewer than {recipe.min_val}: "
              "training on all of them without validation; the last epoch is kept", file=sys.stderr)
        return base, [], (f"{sampled}no validation: {len(base)} images are too few for a held-out share of "
                          f"at least {recipe.min_val} (the last epoch is kept)")
    return train, val, f"{sampled}grouped {round((1 - recipe.val_fraction) * 100)}/" \
                       f"{round(recipe.val_fraction * 100)} hold-out (seed {seed})"


def limited(dataset, limit: int, seed: int = 0):
    """``dataset`` cut to a seeded sample of ``limit`` of its cross-validation images (those outside an
    official val/test split), stratified by diagnosis; its metadata rows cut alike, so the folds made of
    it split only the sample (balanced in size)."""
    pool = [s for s in dataset.samples if s.split in (None, "train")]
    chosen, _ = sample_subset(pool, limit, "stratified", seed)
    ids = {s.id for s in chosen}
    return dataclasses.replace(dataset, samples=chosen, records=[r for r in dataset.records if r.id in ids])


ON_ERROR_CHOICES = ("skip", "stop")


def readable(dataset, on_error: str = "skip"):
    """``dataset`` without the samples whose image or mask cannot be read (corrupt, truncated, sizes differ):
    each is named on stderr and left out (``on_error="skip"``, the default of ``evaluate`` and ``measure``
    too), or the first stops the run with its one-line error (``"stop"``). Every image and mask is decoded
    once for this (about 2 ms per 256x192 image); the metadata rows of left-out samples go too, so folds
    split only what trains."""
    if on_error not in ON_ERROR_CHOICES:
        raise DermasegError(f"--on-error {on_error}: choose one of {', '.join(ON_ERROR_CHOICES)}")
    bad: list[str] = []
    kept = []
    for s in dataset.samples:
        try:
            rgb, truth = read_image(s.image), read_mask(s.mask)
            if truth.shape != rgb.shape[:2]:
                raise DataError(f"{s.mask}: mask is {truth.shape[1]}x{truth.shape[0]} but its image {s.image} "
                                f"is {rgb.shape[1]}x{rgb.shape[0]}")
        except DataError as e:
            if on_error == "stop":
                raise
            print(f"warning: skipped: {e}", file=sys.stderr)
            bad.append(s.id)
            continue
        kept.append(s)
    if not bad:
        return dataset
    if not kept:
        raise DataError(f"{dataset.root}: no image and mask could be read ({len(bad)} skipped)")
    print(f"warning: {len(bad)} of {len(dataset.samples)} image(s) could not be read and were left out of "
          "training (--on-error stop to stop instead)", file=sys.stderr)
    gone = set(bad)
    return dataclasses.replace(dataset, samples=kept, records=[r for r in dataset.records if r.id not in gone])


def _print_summary(summary: dict[str, Any]) -> None:
    print(f"run folder: {summary['out']}")
    print(f"epochs: {summary['epochs']}  best epoch: {summary['best_epoch']}  "
          f"({summary['seconds']:.0f} s of training)")
    val = summary.get("val")
    if val:
        pm = val["per_image_mean"]
        pooled = val["pooled"]
        print(f"validation of best.pt ({val['n_images']} images, own resolution, prompt {val['prompt_mode']} "
              f"[source: {val['prompt']}]): per-image Dice {pm['dice']['mean']:.4f}  IoU {pm['iou']['mean']:.4f}  "
              f"thresholded Jaccard {pm['thresholded_jaccard']['mean']:.4f}  |  pooled Dice "
              f"{pooled['dice']:.4f}  IoU {pooled['iou']:.4f}  -> {Path(summary['out']) / 'metrics.json'}")
    print(f"load it with: dermaseg segment IMAGES --out DIR --model {Path(summary['out']) / 'best.pt'}")
    if summary.get("report"):
        print(f"report: {summary['report']}")


def train_cli(data: Path, recipe: str, out: Path, folds: int | None = None, fold: int | None = None,
              model: str | None = None, epochs: int | None = None, lr: float | None = None,
              batch_size: int | None = None, image_size: int | None = None, loss: str | None = None,
              optimizer: str | None = None, limit: int | None = None, workers: int | None = None,
              seed: int = 0, resume: bool = False, checkpoint: Path | None = None, format: str = "auto",
              device: str | None = None, executor: str = "local", address: str | None = None,
              cpus_per_run: int = 1, init: str | None = None, freeze: str | None = None,
              final: str = "refit", on_error: str = "skip", track: str | None = None,
              tracking_uri: str | None = None) -> dict[str, Any]:
    """What ``dermaseg train`` runs (see the module docstring). Under torchrun every rank runs it and
    rank 0 prints; ``executor="ray"`` runs the folds of ``--folds K`` as Ray Tune trials. ``track``:
    mlflow or tensorboard (:mod:`dermaseg.training.tracking`; a CV is a parent run, each fold and the
    final refit a nested run)."""
    check_out(out, inputs=(data,))
    tracker = open_tracker(track, Path(out), tracking_uri)
    r = resolve_recipe(recipe, model=model, epochs=epochs, lr=lr, batch_size=batch_size, image_size=image_size,
                       loss=loss, optimizer=optimizer, init=init, freeze=freeze)
    if final not in FINAL_CHOICES:
        raise DermasegError(f"--final {final}: choose one of {', '.join(FINAL_CHOICES)}")
    full = load_dataset(data, format=format)
    ds = readable(full.with_masks(), on_error)
    left_out = [s.image for s in full.samples if s.mask is None]
    if left_out:  # said, not silent: a folder with a few masks missing still trains on the rest
        print(f"warning: {len(left_out)} image(s) without a mask left out of training (first: {left_out[0]}); "
              "dermaseg data check lists them", file=sys.stderr)
    workers = 0 if workers is None else workers
    if folds == 1 or (folds is not None and folds < 0):
        raise DermasegError(f"--folds {folds}: use K >= 2 folds, or 0 for one train/val run")
    k = folds if folds is not None else r.folds
    k = None if k == 0 else k
    if fold is not None and k is None:
        raise DermasegError("--fold needs --folds K (or a recipe with folds)")
    check_executor(executor)  # Ray itself and --cpus-per-run: checked by run_cv, before any file is made
    if executor == "ray" and k is None:
        raise DermasegError("--executor ray runs the folds of --folds K on a Ray cluster; one run trains "
                            "here (for several GPUs use torchrun or --nproc)")
    if executor == "ray" and launched_by_torchrun():
        raise DermasegError("--executor ray: not under torchrun (Ray places the runs itself)")
    try:
        if k is not None:
            if limit is not None:  # sample first, then fold the sample: folds balanced in size
                ds = limited(ds, limit, seed)
            params = {"recipe": r.to_dict(), "data": str(ds.root), "format": ds.format, "folds": k, "seed": seed,
                      "fold": fold, "limit": limit, "executor": executor}
            with tracker.group(Path(out), params):
                summary = run_cv(ds, r, Path(out), folds=k, only_fold=fold, seed=seed, workers=workers,
                                 resume=resume, checkpoint=checkpoint, device=device, executor=executor,
                                 address=address, cpus_per_run=cpus_per_run, tracker=tracker)
                if final == "refit" and fold is None and context().is_main:
                    summary["final"] = refit_final(ds, r, Path(out), k, seed=seed, workers=workers,
                                                   device=device, tracker=tracker)
            return summary
        train, val, note = train_val_split(ds, r, seed, limit=limit)
        summary = train_run(ds, r, Path(out), train, val, note, seed=seed, workers=workers, resume=resume,
                            checkpoint=checkpoint, device=device, tracker=tracker)
        if context().is_main:
            _print_summary(summary)
        return summary
    finally:
        teardown()


def check_launch(data: Path, recipe: str, nproc: int, model: str | None = None, batch_size: int | None = None,
                 format: str = "auto", executor: str = "local") -> None:
    """What ``--nproc N`` checks before it starts N processes: the recipe, the data, a global batch that
    N divides, and no other executor."""
    if executor != "local":
        raise DermasegError(f"--nproc {nproc} with --executor {executor}: choose one way to scale out")
    if launched_by_torchrun():
        raise DermasegError(f"--nproc {nproc}: already running under torchrun")
    r = resolve_recipe(recipe, model=model, batch_size=batch_size)
    per_rank_batch(r.batch_size, nproc)
    load_dataset(data, format=format)
