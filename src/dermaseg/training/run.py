"""One training run in one folder: build the model, train it, then score its best checkpoint.

:func:`train_run` is the unit that :mod:`dermaseg.training.cv` repeats per fold and
:mod:`dermaseg.training.orchestrate` (``dermaseg train``) runs once.

Final validation (:func:`validate_best`), as nnU-Net's runs its predictor: ``best.pt`` is loaded by the
same loader as ``dermaseg segment`` / ``evaluate`` (:func:`~dermaseg.inference.predictor.load_predictor`)
and scored by :func:`~dermaseg.evaluation.evaluate.evaluate` on the validation images at their own
resolution; ``metrics.json``, ``per_image.csv``, ``cases/`` and ``report.html`` (with the evaluation's
protocol header, the training curves and the run's configuration) join the run folder, written by
:func:`~dermaseg.evaluation.outputs.write_evaluation`. The numbers are therefore exactly those of
``dermaseg evaluate --model RUN/best.pt --prompt MODE --seed SEED`` on the same images, where MODE is
``none`` for a CNN and the recipe's ``prompt`` (simulated from the truth) for a SAM-family recipe.

Under ``torchrun`` (:mod:`dermaseg.training.distributed`) every rank trains and only rank 0 writes; the
final validation runs on rank 0 alone while the other ranks wait. How the run ran (``world_size``,
``backend``, ``devices``) is recorded in config.json and in metrics.json's ``training`` entry.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from dermaseg.errors import DataError, DermasegError
from dermaseg.evaluation.evaluate import evaluate, evaluation_meta
from dermaseg.evaluation.outputs import write_evaluation
from dermaseg.inference.predictor import load_predictor
from dermaseg.io import write_text
from dermaseg.models.registry import create_model
from dermaseg.report.html import render_report
from dermaseg.training.distributed import setup
from dermaseg.training.finetune import build_init_model, describe_init, freeze
from dermaseg.training.recipes import Recipe
from dermaseg.training.tasks import make_task
from dermaseg.training.tracking import Tracker, run_params
from dermaseg.training.trainer import Trainer, seed_everything

__all__ = ["train_run", "build_model", "validate_best", "validation_prompt"]


def build_model(recipe: Recipe, checkpoint: Path | None = None):
    """The recipe's model, untrained on top of its pretrained weights (a CNN at ``recipe.input_size``), or
    with ``recipe.init`` the trained init model (:mod:`dermaseg.training.finetune`); ``recipe.freeze``
    applied."""
    if recipe.init is not None:
        model = build_init_model(recipe)
        freeze(model, recipe.freeze)
        return model
    kw = dict(recipe.model_kwargs)
    if recipe.kind == "cnn":
        kw["input_size"] = list(recipe.input_size)
    if checkpoint is not None:
        kw["checkpoint"] = str(checkpoint)
    model = create_model(recipe.model, **kw)
    freeze(model, recipe.freeze)
    return model


def validation_prompt(recipe: Recipe) -> str:
    """The ``--prompt`` mode of a run's final validation: ``none`` for a CNN, else the recipe's prompt."""
    return "none" if recipe.kind == "cnn" else recipe.prompt


def validate_best(out: Path, val: list, recipe: Recipe, dataset, split_note: str, seed: int = 0,
                  device=None, progress: bool = True, report: bool = True,
                  ran: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score ``out/best.pt`` on ``val`` through the Predictor and the evaluator (module docstring); write
    metrics.json, per_image.csv, cases/ and (``report``) report.html + figures/ into ``out``. Returns the
    summary: ``n_images``, ``prompt`` (its source), ``prompt_mode``, ``seed``, ``per_image_mean`` and
    ``pooled``. ``ran``: how the training ran (``world_size``, ``backend``, ``devices``), recorded in
    metrics.json's ``training`` entry."""
    best = Path(out) / "best.pt"
    predictor = load_predictor(best, device=None if device is None else str(device))
    mode = validation_prompt(recipe)
    result = evaluate(val, predictor, mode, seed=seed, progress=progress)
    meta = evaluation_meta(predictor, requested=str(best), dataset={
        "format": dataset.format, "root": str(Path(dataset.root).resolve()), "split": split_note,
        "count": len(result.rows), "available": len(val), "limit": None})
    meta["training"] = {"run": str(out), "recipe": recipe.name, "model": recipe.model,
                        "scored": "best.pt, final validation through the Predictor (as dermaseg evaluate)",
                        **(ran or {})}
    write_evaluation(result, Path(out), meta, report=report)
    return {"n_images": len(result.rows), "prompt": result.prompt_source, "prompt_mode": mode, "seed": int(seed),
            "per_image_mean": result.summary["per_image_mean"], "pooled": result.summary["pooled"]}


def train_run(dataset, recipe: Recipe, out: Path, train: list, val: list, split_note: str, seed: int = 0,
              workers: int = 0, resume: bool = False, checkpoint: Path | None = None, device=None,
              progress: bool = True, cache_dir: Path | None = None, extra: dict | None = None,
              report: bool = True, callback=None, tracker: Tracker | None = None) -> dict[str, Any]:
    """Train one run into ``out`` and score its best checkpoint on ``val`` (:func:`validate_best`); returns
    the training summary with the validation summary under ``"val"``. ``report``: write ``out/report.html``
    (the protocol header, the final validation, the training curves), as ``dermaseg report OUT`` would.
    ``callback``: called with a progress dict after every batch and epoch
    (:class:`~dermaseg.training.trainer.Trainer`). ``tracker``: logs the run (parameters, every epoch, the
    final evaluation, artefacts; :mod:`dermaseg.training.tracking`). config.json records ``init`` (what the run started
    from) and the ids of the training and validation images (``train_ids``, ``val_ids``); the model files
    carry ``train_ids`` too, so scoring one on its own training images warns.

    A :class:`DermasegError` (an unreadable image, a diverging loss, ...) removes ``out`` when this call
    created it, so a failed run leaves no partial run folder; a resumed run's folder is left as it was."""
    if not train:
        raise DataError(f"{dataset.root}: no training images")
    out = Path(out)
    created = not out.exists()
    try:
        return _train_run(dataset, recipe, out, train, val, split_note, seed, workers, resume, checkpoint,
                          device, progress, cache_dir, extra, report, callback, tracker or Tracker())
    except DermasegError:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


def _settings(recipe: dict) -> dict:
    """The recipe fields a resumed run must share with the run it resumes."""
    return {k: v for k, v in recipe.items() if k not in ("epochs", "name", "notes")}


def _train_run(dataset, recipe, out, train, val, split_note, seed, workers, resume, checkpoint, device, progress,
               cache_dir, extra, report, callback=None, tracker: Tracker | None = None) -> dict[str, Any]:
    tracker = tracker or Tracker()
    dist = setup(device)  # torchrun's process group, once per process; else one process
    dev = torch.device(dist.device)
    progress = progress and dist.is_main
    config = {"recipe": recipe.to_dict(), "data": str(dataset.root), "format": dataset.format,
              "n_train": len(train), "n_val": len(val), "split": split_note, "seed": seed,
              "device": str(dev), "torch_threads": torch.get_num_threads(), **dist.record(), **(extra or {}),
              "init": describe_init(recipe.init) if recipe.init is not None else None,
              "train_ids": [s.id for s in train], "val_ids": [s.id for s in val]}
    cfg_path = out / "config.json"
    if resume and cfg_path.is_file():
        try:
            old = json.loads(cfg_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise DermasegError(f"{cfg_path}: cannot read the run's config to resume ({e})") from e
        if not isinstance(old, dict) or not isinstance(old.get("recipe"), dict):
            raise DermasegError(f"{cfg_path}: not the config.json of a dermaseg run; cannot resume")
        # epochs may grow on resume; a recipe's name and notes only document it
        was = {**_settings(old["recipe"]), "seed": old.get("seed"), "n_train": old.get("n_train")}
        now = {**_settings(config["recipe"]), "seed": seed, "n_train": len(train)}
        if "init" in old:
            was["init"], now["init"] = old["init"], config["init"]
        changed = [f"{k} {was.get(k)!r} -> {now.get(k)!r}" for k in sorted(was.keys() | now.keys())
                   if was.get(k) != now.get(k)]
        if changed:
            raise DermasegError(f"{cfg_path}: --resume with different settings than the run being resumed "
                                f"({', '.join(changed)})")
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(seed, 1_000_000)  # model init: a stream no epoch uses
    model = build_model(recipe, checkpoint)
    task = make_task(model, recipe, train, val, seed=seed, workers=workers, device=dev, progress=progress,
                     cache_dir=cache_dir, dist=dist)
    if dist.is_main:
        write_text(cfg_path, json.dumps(config, indent=2))
    with tracker.run(out, run_params(config)):
        trainer = Trainer(model, recipe, task, out, device=dev, seed=seed, progress=progress,
                          extra={"data": str(dataset.root), "split": split_note, "init": config["init"],
                                 "train_ids": config["train_ids"]}, dist=dist, callback=tracker.callback(callback))
        summary = trainer.fit(resume=resume)
        summary["world_size"] = dist.world_size
        if dist.is_main and val and (out / "best.pt").is_file():
            summary["val"] = validate_best(out, val, recipe, dataset, split_note, seed=seed, device=dev,
                                           progress=progress, report=report, ran=dist.record())
        elif dist.is_main and report:
            render_report(out)
        if report:
            summary["report"] = str(out / "report.html")
        if dist.is_main:
            tracker.finish_run(out)
    dist.barrier()  # the other ranks wait for rank 0's final validation and report
    return summary
