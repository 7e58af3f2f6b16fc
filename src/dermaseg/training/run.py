"""``dermaseg train``: resolve the recipe and the data, train one run (or K folds), score it.

Validation data: the dataset's own ``val`` split when it has a ``train`` and a ``val`` split (ISIC 2017:
Training + Validation); otherwise a hold-out of ``recipe.val_fraction`` of the training images, grouped
by lesion so no lesion is on both sides. With ``--folds K`` (or a recipe with ``folds``) every fold of
the grouped splits runs (:mod:`dermaseg.training.cv`).

After training, ``best.pt`` is scored on the validation images at their own resolution with
:func:`dermaseg.evaluation.metrics.image_metrics`: ``val_metrics.json`` (per-image mean ± std and pooled)
and ``val_per_image.csv`` join the run folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermaseg.errors import DataError, DermasegError
from dermaseg.training.recipes import Recipe, get_recipe

__all__ = ["train_cli", "train_run", "resolve_recipe", "train_val_split", "holdout", "score_model"]


def resolve_recipe(recipe: str | Recipe, model: str | None = None, epochs: int | None = None,
                   lr: float | None = None, batch_size: int | None = None, image_size: int | None = None,
                   loss: str | None = None, optimizer: str | None = None) -> Recipe:
    """The named recipe with command-line overrides. ``image_size`` S sets the longest side to S and
    keeps the recipe's aspect (sides rounded to multiples of 32)."""
    r = get_recipe(recipe) if isinstance(recipe, str) else recipe
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


def holdout(samples: Sequence[Any], fraction: float = 0.2, seed: int = 0) -> tuple[list, list]:
    """Grouped, label-stratified hold-out (:func:`dermaseg.data.splits.assign_groups` with shares
    1 - ``fraction`` and ``fraction``): no group (lesion) is on both sides."""
    from dermaseg.data.splits import assign_groups

    counts: dict[str, dict[str, int]] = {}
    for s in samples:
        c = counts.setdefault(s.group, {})
        key = s.label or "-"
        c[key] = c.get(key, 0) + 1
    if len(counts) < 2:
        return list(samples), []
    where = assign_groups(sorted(counts.items()), [1.0 - fraction, fraction], seed)
    train = [s for s in samples if where[s.group] == 0]
    val = [s for s in samples if where[s.group] == 1]
    return train, val


def train_val_split(dataset, recipe: Recipe, seed: int = 0) -> tuple[list, list, str]:
    """(train samples, val samples, how the split was made)."""
    present = dataset.splits_present
    if "train" in present and "val" in present:
        return list(dataset.select("train")), list(dataset.select("val")), "the dataset's own train/val splits"
    base = list(dataset.select("train")) if "train" in present else [
        s for s in dataset.samples if s.split != "test"]
    train, val = holdout(base, recipe.val_fraction, seed)
    return train, val, f"grouped {round((1 - recipe.val_fraction) * 100)}/{round(recipe.val_fraction * 100)} " \
                       f"hold-out (seed {seed})"


def build_model(recipe: Recipe, checkpoint: Path | None = None):
    from dermaseg.models.registry import create_model

    kw = dict(recipe.model_kwargs)
    if recipe.kind == "cnn":
        kw["input_size"] = list(recipe.input_size)
    if checkpoint is not None:
        kw["checkpoint"] = str(checkpoint)
    return create_model(recipe.model, **kw)


def score_model(model, task, samples: Sequence[Any], threshold: float, out: Path | None = None
                ) -> dict[str, Any]:
    """Score ``model`` on ``samples`` at their own resolution; writes val_metrics.json / val_per_image.csv."""
    from dermaseg.evaluation.metrics import image_metrics, summarize
    from dermaseg.io import read_mask, write_text

    rows = []
    for s, prob in task.predict(model, samples):
        truth = read_mask(s.mask)
        m = image_metrics(prob > threshold, truth, hd95=True)
        rows.append({"id": s.id, "label": s.label, "group": s.group, **m})
    summary = summarize(rows)
    result = {"n_images": len(rows), "threshold": threshold, "resolution": "each image's own",
              "prompt": getattr(task, "prompt_source", "none (automatic)"), **summary}
    if out is not None and rows:
        import pandas as pd

        write_text(out / "val_metrics.json", json.dumps(result, indent=2, default=float))
        write_text(out / "val_per_image.csv", pd.DataFrame(rows).to_csv(index=False))
    return result


def train_run(dataset, recipe: Recipe, out: Path, train: list, val: list, split_note: str, seed: int = 0,
              workers: int = 0, resume: bool = False, checkpoint: Path | None = None, device=None,
              progress: bool = True, cache_dir: Path | None = None, extra: dict | None = None) -> dict[str, Any]:
    """Train one run into ``out`` and score its best checkpoint on ``val``; returns the summary."""
    import torch

    from dermaseg.devices import select_device
    from dermaseg.io import write_text
    from dermaseg.models.registry import load_model
    from dermaseg.training.tasks import make_task
    from dermaseg.training.trainer import Trainer, seed_everything

    if not train:
        raise DataError(f"{dataset.root}: no training images")
    out = Path(out)
    dev = select_device(device)
    config = {"recipe": recipe.to_dict(), "data": str(dataset.root), "format": dataset.format,
              "n_train": len(train), "n_val": len(val), "split": split_note, "seed": seed,
              "device": str(dev), "torch_threads": torch.get_num_threads(), **(extra or {})}
    cfg_path = out / "config.json"
    if resume and cfg_path.is_file():
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
        a = {k: v for k, v in old.get("recipe", {}).items() if k != "epochs"}
        b = {k: v for k, v in config["recipe"].items() if k != "epochs"}
        if a != b or old.get("seed") != seed or old.get("n_train") != len(train):
            raise DermasegError(f"{cfg_path}: --resume with different settings than the run being resumed")
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(seed, 1_000_000)  # model init: a stream no epoch uses
    model = build_model(recipe, checkpoint)
    task = make_task(model, recipe, train, val, seed=seed, workers=workers, device=dev, progress=progress,
                     cache_dir=cache_dir)
    write_text(cfg_path, json.dumps(config, indent=2))
    trainer = Trainer(model, recipe, task, out, device=dev, seed=seed, progress=progress,
                      extra={"data": str(dataset.root), "split": split_note})
    summary = trainer.fit(resume=resume)
    if val and (out / "best.pt").is_file():
        best = load_model(out / "best.pt").to(dev)
        summary["val"] = score_model(best, task, val, recipe.threshold, out)
    return summary


def _print_summary(summary: dict[str, Any], recipe: Recipe) -> None:
    print(f"run folder: {summary['out']}")
    print(f"epochs: {summary['epochs']}  best epoch: {summary['best_epoch']}  "
          f"({summary['seconds']:.0f} s of training)")
    val = summary.get("val")
    if val:
        pm = val["per_image_mean"]
        pooled = val["pooled"]
        print(f"validation ({val['n_images']} images, own resolution, threshold {val['threshold']}): "
              f"per-image Dice {pm['dice']['mean']:.4f}  IoU {pm['iou']['mean']:.4f}  "
              f"thresholded Jaccard {pm['thresholded_jaccard']['mean']:.4f}  |  pooled Dice "
              f"{pooled['dice']:.4f}  IoU {pooled['iou']:.4f}")
    print(f"load it with: dermaseg segment IMAGES --out DIR --model {Path(summary['out']) / 'best.pt'}")


def train_cli(data: Path, recipe: str, out: Path, folds: int | None = None, fold: int | None = None,
              model: str | None = None, epochs: int | None = None, lr: float | None = None,
              batch_size: int | None = None, image_size: int | None = None, loss: str | None = None,
              optimizer: str | None = None, limit: int | None = None, workers: int | None = None,
              seed: int = 0, resume: bool = False, checkpoint: Path | None = None, format: str = "auto",
              device: str | None = None) -> dict[str, Any]:
    """What ``dermaseg train`` runs (see the module docstring)."""
    from dermaseg.data.readers import load_dataset

    r = resolve_recipe(recipe, model=model, epochs=epochs, lr=lr, batch_size=batch_size, image_size=image_size,
                       loss=loss, optimizer=optimizer)
    ds = load_dataset(data, format=format)
    ds.samples = [s for s in ds.samples if s.mask is not None]
    if not ds.samples:
        raise DataError(f"{data}: no image with a mask to train on")
    workers = 0 if workers is None else workers
    if folds == 1 or (folds is not None and folds < 0):
        raise DermasegError(f"--folds {folds}: use K >= 2 folds, or 0 for one train/val run")
    k = folds if folds is not None else r.folds
    k = None if k == 0 else k
    if fold is not None and k is None:
        raise DermasegError("--fold needs --folds K (or a recipe with folds)")
    if k is not None:
        from dermaseg.training.cv import run_cv

        return run_cv(ds, r, Path(out), folds=k, only_fold=fold, seed=seed, workers=workers, resume=resume,
                      checkpoint=checkpoint, device=device, limit=limit)
    train, val, note = train_val_split(ds, r, seed)
    if limit is not None:
        train = train[:limit]
    summary = train_run(ds, r, Path(out), train, val, note, seed=seed, workers=workers, resume=resume,
                        checkpoint=checkpoint, device=device)
    _print_summary(summary, r)
    return summary
