"""``dermaseg sweep``: a hyper-parameter grid, each point cross-validated, resumable run by run.

``melseg`` is melSeg's Table I (seed 000): loss DiceCE / Focal × optimizer Adam / SGD × learning rate
1e-4, 1e-5, 1e-6 = 12 runs on the ``melseg`` recipe, each K-fold cross-validated on the same
``OUT/splits.json``. Each run trains into ``OUT/<loss>-<optimizer>-lr<lr>/`` (a CV folder); a run whose
every fold has finished is skipped, an unfinished one resumes fold by fold. ``OUT/sweep_table.csv``
has melSeg's columns: loss, optimizer, lr, then accuracy, precision, recall, dice, iou as the mean and
std over folds of the per-image mean (plus ``folds_done``), rewritten after every run.

With ``--executor ray`` every unfinished (point, fold) is a Ray Tune trial, all submitted at once (the
cluster runs as many side by side as its resources allow); the run folders and tables are the same.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from dermaseg.data.readers import load_dataset
from dermaseg.errors import DermasegError
from dermaseg.io import write_text
from dermaseg.ray_cluster import check_executor
from dermaseg.training.cv import collect_cv, log_finished, plan_cv, run_cv, run_fold
from dermaseg.training.ray_runs import run_on_ray
from dermaseg.training.recipes import get_recipe
from dermaseg.training.tracking import Tracker, open_tracker

__all__ = ["GRIDS", "grid_points", "sweep_cli", "write_sweep_table"]

#: name -> (base recipe, {setting: values}); the order of settings is the order of the table columns
GRIDS: dict[str, tuple[str, dict[str, tuple]]] = {
    "melseg": ("melseg", {"loss": ("dicece", "focal"), "optimizer": ("adam", "sgd"),
                          "lr": (1e-4, 1e-5, 1e-6)}),
}

TABLE_METRICS = ("accuracy", "precision", "recall", "dice", "iou")


def grid_points(grid: str) -> tuple[str, list[dict[str, Any]]]:
    """(base recipe name, list of settings dicts) for a named grid."""
    if grid not in GRIDS:
        raise DermasegError(f"unknown grid '{grid}'; known grids: {', '.join(GRIDS)}")
    base, axes = GRIDS[grid]
    keys = list(axes)
    return base, [dict(zip(keys, values, strict=True)) for values in itertools.product(*axes.values())]


def run_name(point: dict[str, Any]) -> str:
    return "-".join(f"lr{v:g}" if k == "lr" else str(v) for k, v in point.items())


def write_sweep_table(out: Path, points: list[dict[str, Any]], folds: int) -> list[dict[str, Any]]:
    """Collect every run's cv_summary.json into sweep_table.csv (runs not started are left out)."""
    import pandas as pd

    rows = []
    for point in points:
        p = out / run_name(point) / "cv_summary.json"
        if not p.is_file():
            continue
        s = json.loads(p.read_text(encoding="utf-8"))
        row: dict[str, Any] = dict(point)
        for m in TABLE_METRICS:
            st = s.get("per_image_mean", {}).get(m, {})
            row[f"{m}_mean"] = st.get("mean")
            row[f"{m}_std"] = st.get("std")
        row["folds_done"] = len(s.get("completed", []))
        row["folds"] = folds
        rows.append(row)
    if rows:
        write_text(out / "sweep_table.csv", pd.DataFrame(rows).to_csv(index=False, float_format="%.6g"))
    return rows


def sweep_cli(data: Path, grid: str = "melseg", folds: int = 5, out: Path | None = None,
              epochs: int | None = None, model: str | None = None, limit: int | None = None, seed: int = 0,
              format: str = "auto", device: str | None = None, progress: bool = True, executor: str = "local",
              address: str | None = None, cpus_per_run: int = 1, track: str | None = None,
              tracking_uri: str | None = None) -> list[dict[str, Any]]:
    """What ``dermaseg sweep`` runs (module docstring). Returns the table rows.

    ``executor``: ``local`` cross-validates the points one after another here; ``ray`` runs every
    unfinished (point, fold) at once as Ray Tune trials on the cluster at ``address``
    (:mod:`dermaseg.training.ray_runs`), then writes the same cv tables and sweep_table.csv. ``track``:
    mlflow or tensorboard (:mod:`dermaseg.training.tracking`): the sweep a parent run, each point a
    nested CV run, each fold a run nested in its point."""
    if out is None:
        raise DermasegError("--out is required")
    check_executor(executor, ("tune",))  # before any file is made
    out = Path(out)
    tracker = open_tracker(track, out, tracking_uri)
    base, points = grid_points(grid)
    ds = load_dataset(data, format=format).with_masks()
    out.mkdir(parents=True, exist_ok=True)
    todo: list[tuple[int, dict[str, Any], Any]] = []
    for n, point in enumerate(points, 1):
        recipe = get_recipe(base).with_model(model).override(epochs=epochs, **point)
        summary_path = out / run_name(point) / "cv_summary.json"
        if summary_path.is_file():
            done = json.loads(summary_path.read_text(encoding="utf-8")).get("completed", [])
            if len(done) == folds:
                print(f"[{n}/{len(points)}] {run_name(point)}: finished earlier, skipped")
                continue
        todo.append((n, point, recipe))
    params = {"grid": grid, "recipe": base, "data": str(ds.root), "format": ds.format, "folds": folds,
              "seed": seed, "epochs": epochs, "model": model, "limit": limit, "executor": executor}
    with tracker.group(out, params):
        if executor == "ray":
            _sweep_on_ray(ds, todo, out, folds, seed, limit, device, address, cpus_per_run, progress, tracker)
        else:
            for n, point, recipe in todo:
                print(f"[{n}/{len(points)}] {run_name(point)}", flush=True)
                with tracker.group(out / run_name(point), {**point, "recipe": recipe.to_dict()}):
                    run_cv(ds, recipe, out / run_name(point), folds=folds, seed=seed, limit=limit, device=device,
                           splits_path=out / "splits.json", progress=progress, quiet=not progress,
                           tracker=tracker)
                write_sweep_table(out, points, folds)
        rows = write_sweep_table(out, points, folds)
        tracker.finish_group(out)
    print(f"sweep table: {out / 'sweep_table.csv'} ({len(rows)}/{len(points)} runs)")
    for r in rows:
        print(f"  {run_name({k: r[k] for k in GRIDS[grid][1]}):24s} dice {r['dice_mean']:.4f} ± {r['dice_std']:.4f}"
              f"  iou {r['iou_mean']:.4f} ± {r['iou_std']:.4f}")
    return rows


def _sweep_on_ray(ds, todo, out: Path, folds: int, seed: int, limit: int | None, device: str | None,
                  address: str | None, cpus_per_run: int, progress: bool, tracker: Tracker) -> None:
    """Every unfinished (point, fold) of the sweep as one Tune trial; then each point's cv tables (and its
    tracked runs, logged from the finished folders)."""
    jobs, per_point = [], []
    for _, point, recipe in todo:
        _, point_jobs, _ = plan_cv(ds, recipe, out / run_name(point), folds=folds, seed=seed, limit=limit,
                                   device=device, splits_path=out / "splits.json", label=f"{run_name(point)} ")
        jobs.extend(point_jobs)
        per_point.append((point, recipe, point_jobs))
    try:
        run_on_ray(run_fold, jobs, ds, out, address=address, cpus_per_run=cpus_per_run, device=device,
                   progress=progress, name="sweep")
    finally:  # what finished counts, also when a run failed
        for point, recipe, point_jobs in per_point:
            with tracker.group(out / run_name(point), {**point, "recipe": recipe.to_dict()}):
                log_finished(tracker, point_jobs)
                collect_cv(out / run_name(point), folds)
                tracker.finish_group(out / run_name(point))
