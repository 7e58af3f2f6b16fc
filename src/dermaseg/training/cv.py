"""K-fold cross-validation on the grouped splits of :mod:`dermaseg.data.splits`.

``OUT/splits.json`` holds the folds (made once, seeded, re-used; no lesion in two folds, asserted), each
fold trains into ``OUT/fold_<i>/`` (a normal run folder) and its best checkpoint is scored on its
validation images as ``dermaseg evaluate`` scores (``fold_<i>/metrics.json``, ``per_image.csv``). ``OUT/cv_table.csv`` has one row per finished fold (per-image mean metrics, then pooled
ones prefixed ``pooled_``); ``OUT/cv_summary.json`` the mean ± std over folds of every column and the
protocol header; ``OUT/report.html`` renders them (each fold has its own ``report.html`` too). A fold
whose ``result.json`` exists is finished and is skipped, so a killed CV resumes where it stopped.

Executors: ``local`` runs the folds one after another here (each may itself be a torchrun DDP run);
``ray`` runs each fold as a Ray Tune trial (:mod:`dermaseg.training.ray_runs`) with the same files and
tables.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermaseg.data.splits import get_or_make_splits
from dermaseg.errors import DataError, DermasegError
from dermaseg.evaluation.metrics import METRIC_KEYS
from dermaseg.io import write_text
from dermaseg.ray_cluster import check_executor
from dermaseg.report.html import render_report
from dermaseg.training.distributed import context, setup
from dermaseg.training.ray_runs import run_on_ray
from dermaseg.training.recipes import Recipe
from dermaseg.training.run import train_run
from dermaseg.training.tracking import Tracker

__all__ = ["run_cv", "plan_cv", "run_fold", "FoldRun", "collect_cv", "cv_protocol", "fold_validation", "METRICS"]

#: metrics reported per fold (per-image mean and pooled)
METRICS = METRIC_KEYS


def fold_validation(fold_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
    """A fold's final validation: ``n_images``, ``per_image_mean`` and ``pooled``, read from the fold's
    metrics.json (written as ``dermaseg evaluate`` writes it); a fold folder from before that file existed
    is read from its val_metrics.json, else from result.json."""
    m = _read_json(fold_dir / "metrics.json")
    if m is not None:
        s = m.get("summary", {})
        return {"n_images": s.get("n"), "per_image_mean": s.get("per_image_mean", {}),
                "pooled": s.get("pooled", {})}
    return _read_json(fold_dir / "val_metrics.json") or result.get("val") or {}


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DermasegError(f"{path}: not valid JSON ({e}); delete the fold folder to run it again") from e
    if not isinstance(doc, dict):
        raise DermasegError(f"{path}: not a file dermaseg wrote; delete the fold folder to run it again")
    return doc


def cv_protocol(out: Path, k: int, done: list[int]) -> dict[str, Any]:
    """The protocol header of the CV report (cv_summary.json's ``protocol``), read from the finished folds'
    metrics.json and config.json and from splits.json: model, dataset, how it was split, images scored,
    prompt and its source, resolution, seed."""
    metrics = [m for m in (_read_json(out / f"fold_{i}" / "metrics.json") for i in done) if m]
    configs = [c for c in (_read_json(out / f"fold_{i}" / "config.json") for i in done) if c]
    first = metrics[0] if metrics else {}
    recipe = (configs[0].get("recipe") or {}) if configs else {}
    sources = sorted({str(m.get("prompt", {}).get("source", "?")) for m in metrics})
    modes = sorted({str(m.get("prompt", {}).get("mode", "?")) for m in metrics})
    n_val = sum(int(m.get("summary", {}).get("n") or 0) for m in metrics)
    splits = _read_json(out / "splits.json") or {}
    groups = len(set((splits.get("groups") or {}).values())) if isinstance(splits.get("groups"), dict) else None
    seed = first.get("seed", configs[0].get("seed") if configs else None)
    return {
        "model": f"{recipe.get('model', '?')} (recipe {recipe.get('name', '?')}), each fold's best.pt",
        "format": first.get("dataset", {}).get("format", configs[0].get("format") if configs else "?"),
        "root": first.get("dataset", {}).get("root", configs[0].get("data") if configs else "?"),
        "split": f"{k}-fold cross-validation grouped by lesion{f' ({groups} groups)' if groups else ''}, stratified "
                 f"by diagnosis (splits.json, seed {splits.get('seed', '?')}); each fold validated on its held-out "
                 "fold",
        "images": f"{n_val} validation images over {len(metrics)} finished fold(s) of {k}, each image scored once",
        "prompt": {"mode": ", ".join(modes) or "?", "source": " / ".join(sources) or "?"},
        "scored_at": first.get("resolution", {}).get("scored_at", "?"),
        "training_resolution": (f"{recipe['input_size'][0]}×{recipe['input_size'][1]} (H×W)"
                                if recipe.get("kind", "cnn") == "cnn" and recipe.get("input_size")
                                else "the SAM model's own input"),
        "seed": seed,
    }


def _fold_row(fold: int, result: dict[str, Any], val: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"fold": fold, "n_train": result.get("n_train"), "n_val": val.get("n_images"),
                           "epochs": result.get("epochs"), "best_epoch": result.get("best_epoch"),
                           "seconds": round(float(result.get("seconds", 0.0)), 1)}
    pm, pooled = val.get("per_image_mean", {}), val.get("pooled", {})
    for m in METRICS:
        entry = pm.get(m)
        row[m] = entry.get("mean") if isinstance(entry, dict) else entry
    for m in METRICS:
        if m in pooled:
            row[f"pooled_{m}"] = pooled[m]
    return row


def _mean_std(values: list[float]) -> dict[str, float | int | None]:
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    mean = sum(v) / len(v)
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / len(v))  # population std over folds
    return {"mean": mean, "std": std, "n": len(v)}


def collect_cv(out: Path, k: int, report: bool = True) -> dict[str, Any]:
    """Read every finished fold (``fold_<i>/result.json`` and its metrics.json); write cv_table.csv,
    cv_summary.json (with the protocol header) and, with ``report``, the CV's report.html."""
    import pandas as pd

    rows = []
    for i in range(k):
        result = _read_json(out / f"fold_{i}" / "result.json")
        if result is not None:
            rows.append(_fold_row(i, result, fold_validation(out / f"fold_{i}", result)))
    if not rows:
        return {"folds": k, "completed": []}
    table = pd.DataFrame(rows)
    write_text(out / "cv_table.csv", table.to_csv(index=False, float_format="%.6g"))
    metric_cols = [c for c in table.columns if c in METRICS]
    pooled_cols = [c for c in table.columns if c.startswith("pooled_")]
    summary = {
        "folds": k,
        "completed": [int(r["fold"]) for r in rows],
        "std": "population standard deviation over folds",
        "per_image_mean": {c: _mean_std(table[c].tolist()) for c in metric_cols},
        "pooled": {c.removeprefix("pooled_"): _mean_std(table[c].tolist()) for c in pooled_cols},
        "seconds": float(table["seconds"].sum()),
        "protocol": cv_protocol(out, k, [int(r["fold"]) for r in rows]),
    }
    write_text(out / "cv_summary.json", json.dumps(summary, indent=2))
    if report:
        render_report(out)
        summary["report"] = str(out / "report.html")
    return summary


@dataclass
class FoldRun:
    """One run of a cross-validation: fold ``fold`` of ``folds``, trained into ``out`` (a run folder) on
    ``train`` and scored on ``val``. The unit that the local loop and a Ray worker run (:func:`run_fold`)."""

    label: str
    out: Path
    fold: int
    folds: int
    recipe: Recipe
    train: list
    val: list
    seed: int = 0
    workers: int = 0
    resume: bool = False
    checkpoint: Path | None = None
    device: str | None = None


def run_fold(job: FoldRun, dataset, progress: bool = True, tracker: Tracker | None = None) -> dict[str, Any]:
    """Train and score one fold (:func:`~dermaseg.training.run.train_run`, tracked by ``tracker``); rank 0
    writes its ``result.json``, the mark of a finished fold. Returns the result."""
    result = train_run(dataset, job.recipe, job.out, job.train, job.val,
                       f"fold {job.fold} of {job.folds} (splits.json)", seed=job.seed, workers=job.workers,
                       resume=job.resume, checkpoint=job.checkpoint, device=job.device, progress=progress,
                       extra={"fold": job.fold, "folds": job.folds}, tracker=tracker)
    result["n_train"] = len(job.train)
    if context().is_main:
        write_text(Path(job.out) / "result.json", json.dumps(result, indent=2, default=float))
    return result


def plan_cv(dataset, recipe: Recipe, out: Path, folds: int = 5, only_fold: int | None = None, seed: int = 0,
            workers: int = 0, resume: bool = False, checkpoint: Path | None = None, device: str | None = None,
            limit: int | None = None, splits_path: Path | None = None, label: str = ""
            ) -> tuple[int, list[FoldRun], list[int]]:
    """(K, the folds still to run, the folds finished earlier) of a cross-validation into ``out``; makes
    or re-uses the splits (rank 0 first in a distributed run)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dist = context()
    if dist.is_main:
        splits = get_or_make_splits(dataset, splits_path or out / "splits.json", folds=folds, seed=seed)
    dist.barrier()
    if not dist.is_main:
        splits = get_or_make_splits(dataset, splits_path or out / "splits.json", folds=folds, seed=seed)
    splits.validate()
    if only_fold is not None and not 0 <= only_fold < splits.k:
        raise DermasegError(f"--fold {only_fold}: the splits have folds 0..{splits.k - 1}")
    jobs, done = [], []
    for i in [only_fold] if only_fold is not None else range(splits.k):
        fold_dir = out / f"fold_{i}"
        if (fold_dir / "result.json").is_file():
            done.append(i)
            continue
        train, val = splits.fold_samples(dataset, i)
        if limit is not None:  # a subset of the dataset, folded as the full splits fold it (both sides shrink)
            keep = {s.id for s in dataset.samples[:limit]}
            train = [s for s in train if s.id in keep]
            val = [s for s in val if s.id in keep]
        if not train or not val:
            raise DataError(f"{dataset.root}: fold {i} has {len(train)} training and {len(val)} validation "
                            f"images present; too few images for {splits.k} folds")
        jobs.append(FoldRun(label=f"{label}fold {i + 1}/{splits.k}", out=fold_dir, fold=i, folds=splits.k,
                            recipe=recipe, train=train, val=val, seed=seed, workers=workers,
                            resume=resume or (fold_dir / "last.pt").is_file(), checkpoint=checkpoint,
                            device=device))
    return splits.k, jobs, done


def run_cv(dataset, recipe: Recipe, out: Path, folds: int = 5, only_fold: int | None = None, seed: int = 0,
           workers: int = 0, resume: bool = False, checkpoint: Path | None = None, device: str | None = None,
           limit: int | None = None, splits_path: Path | None = None, progress: bool = True,
           quiet: bool = False, executor: str = "local", address: str | None = None,
           cpus_per_run: int = 1, tracker: Tracker | None = None) -> dict[str, Any]:
    """Train every fold (or only ``only_fold``) and write the CV table; returns cv_summary.

    ``limit``: use only the first N images of the dataset; each keeps the fold the full (lesion-grouped)
    splits give it, so every fold trains and validates on its share of those N images.
    ``executor``: ``local`` trains the folds one after another in this process; ``ray`` runs each fold as
    a Ray Tune trial on the cluster at ``address`` (:mod:`dermaseg.training.ray_runs`).
    ``tracker``: each fold a run in the tracker's open group (the caller's CV run), which gets the CV's
    summary at the end (:mod:`dermaseg.training.tracking`; a Ray fold is logged from its folder afterwards).

    A :class:`DermasegError` removes ``out`` when this call created it and no fold finished (a failed
    start leaves nothing behind); finished folds are kept, and a re-run resumes after them.
    """
    out = Path(out)
    created = not out.exists()
    try:
        return _run_cv(dataset, recipe, out, folds, only_fold, seed, workers, resume, checkpoint, device, limit,
                       splits_path, progress, quiet, executor, address, cpus_per_run, tracker or Tracker())
    except DermasegError:
        if created and context().is_main and not any(out.glob("fold_*/result.json")):
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run_cv(dataset, recipe, out, folds, only_fold, seed, workers, resume, checkpoint, device, limit, splits_path,
            progress, quiet, executor, address, cpus_per_run, tracker) -> dict[str, Any]:
    if executor == "local":
        setup(device)  # under torchrun: join the process group before the first file is made
    else:
        check_executor(executor, ("tune",))  # before any file is made
    quiet = quiet or not context().is_main
    k, jobs, done = plan_cv(dataset, recipe, out, folds=folds, only_fold=only_fold, seed=seed, workers=workers,
                            resume=resume, checkpoint=checkpoint, device=device, limit=limit,
                            splits_path=splits_path)
    if not quiet:
        for i in done:
            print(f"fold {i}: finished earlier, skipped ({out / f'fold_{i}' / 'result.json'})")
    if executor == "ray":
        try:
            run_on_ray(run_fold, jobs, dataset, out, address=address, cpus_per_run=cpus_per_run, device=device,
                       progress=not quiet)
        finally:
            log_finished(tracker, jobs)
    else:
        for job in jobs:
            if not quiet:
                print(f"{job.label}: {len(job.train)} train, {len(job.val)} val -> {job.out}")
            run_fold(job, dataset, progress=progress, tracker=tracker)
    if not context().is_main:
        return {"folds": k, "rank": context().rank}
    summary = collect_cv(out, k)
    tracker.finish_group(out)
    if not quiet:
        _print_cv(out, summary)
    return summary


def log_finished(tracker: Tracker, jobs: list[FoldRun]) -> None:
    """Log the finished folds of ``jobs`` (run in other processes: Ray trials) from their folders."""
    for job in jobs:
        if (Path(job.out) / "result.json").is_file():
            tracker.log_folder(job.out)


def _print_cv(out: Path, summary: dict[str, Any]) -> None:
    done = summary.get("completed", [])
    print(f"cross-validation: {len(done)}/{summary['folds']} folds finished -> {out / 'cv_table.csv'}")
    if summary.get("report"):
        print(f"report: {summary['report']} (each fold: fold_<i>/report.html)")
    for kind in ("per_image_mean", "pooled"):
        stats = summary.get(kind, {})
        parts = [f"{m} {s['mean']:.4f} ± {s['std']:.4f}" for m, s in stats.items()
                 if m in ("dice", "iou", "thresholded_jaccard") and s["mean"] is not None]
        if parts:
            print(f"  {kind.replace('_', ' ')}: " + ", ".join(parts))
