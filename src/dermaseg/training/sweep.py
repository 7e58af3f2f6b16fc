"""``dermaseg sweep``: a hyper-parameter grid, each point cross-validated, resumable run by run.

``melseg`` is melSeg's Table I (seed 000): loss DiceCE / Focal × optimizer Adam / SGD × learning rate
1e-4, 1e-5, 1e-6 = 12 runs on the ``melseg`` recipe, each K-fold cross-validated on the same
``OUT/splits.json``. Each run trains into ``OUT/<loss>-<optimizer>-lr<lr>/`` (a CV folder); a run whose
every fold has finished is skipped, an unfinished one resumes fold by fold. ``OUT/sweep_table.csv``
has melSeg's columns: loss, optimizer, lr, then accuracy, precision, recall, dice, iou as the mean and
std over folds of the per-image mean (plus ``folds_done``), rewritten after every run.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from dermaseg.data.readers import load_dataset
from dermaseg.errors import DermasegError
from dermaseg.io import write_text
from dermaseg.training.cv import run_cv
from dermaseg.training.recipes import get_recipe

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
              format: str = "auto", device: str | None = None, progress: bool = True) -> list[dict[str, Any]]:
    """What ``dermaseg sweep`` runs (module docstring). Returns the table rows."""
    if out is None:
        raise DermasegError("--out is required")
    out = Path(out)
    base, points = grid_points(grid)
    ds = load_dataset(data, format=format).with_masks()
    out.mkdir(parents=True, exist_ok=True)
    for n, point in enumerate(points, 1):
        recipe = get_recipe(base).with_model(model).override(epochs=epochs, **point)
        run_dir = out / run_name(point)
        summary_path = run_dir / "cv_summary.json"
        if summary_path.is_file():
            done = json.loads(summary_path.read_text(encoding="utf-8")).get("completed", [])
            if len(done) == folds:
                print(f"[{n}/{len(points)}] {run_name(point)}: finished earlier, skipped")
                continue
        print(f"[{n}/{len(points)}] {run_name(point)}", flush=True)
        run_cv(ds, recipe, run_dir, folds=folds, seed=seed, limit=limit, device=device,
               splits_path=out / "splits.json", progress=progress, quiet=not progress)
        write_sweep_table(out, points, folds)
    rows = write_sweep_table(out, points, folds)
    print(f"sweep table: {out / 'sweep_table.csv'} ({len(rows)}/{len(points)} runs)")
    for r in rows:
        print(f"  {run_name({k: r[k] for k in GRIDS[grid][1]}):24s} dice {r['dice_mean']:.4f} ± {r['dice_std']:.4f}"
              f"  iou {r['iou_mean']:.4f} ± {r['iou_std']:.4f}")
    return rows
