"""One training run in one folder: build the model, train it, score its best checkpoint.

:func:`train_run` is the unit that :mod:`dermaseg.training.cv` repeats per fold and
:mod:`dermaseg.training.orchestrate` (``dermaseg train``) runs once. After training, ``best.pt`` is scored on the validation images at their own resolution with
:func:`dermaseg.evaluation.metrics.image_metrics`: ``val_metrics.json`` (per-image mean ± std and pooled)
and ``val_per_image.csv`` join the run folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermaseg.errors import DataError, DermasegError
from dermaseg.training.recipes import Recipe

__all__ = ["train_run", "build_model", "score_model"]


def build_model(recipe: Recipe, checkpoint: Path | None = None):
    """The recipe's model, untrained on top of its pretrained weights (a CNN at ``recipe.input_size``)."""
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


