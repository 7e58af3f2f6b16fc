"""Training runs on a Ray cluster: every (configuration, fold) of ``dermaseg train --folds K --executor ray``
and ``dermaseg sweep --executor ray`` is one Ray Tune trial.

The trials are a Tune grid over the runs still to do (the callers skip finished ones by the same
``result.json`` / ``cv_summary.json`` rules as the local executor). Each trial is a function trainable that
calls the same :func:`dermaseg.training.cv.run_fold` as the local loop, so a run folder made on the
cluster holds exactly the files a local run writes, and the callers then write the same tables. A trial
asks for one GPU when the cluster has GPUs (and ``--device`` is not ``cpu``), else ``cpus_per_run`` CPUs,
and sets torch's threads to ``cpus_per_run``; it runs in the driver's working directory when that exists on
its node (Tune would otherwise start it in a trial folder).

Tune's own bookkeeping (trial folders, experiment state) goes to ``OUT/.ray_tune/``; it never replaces the
run folders and can be deleted. The cluster's nodes need dermaseg installed, and ``--data`` and ``--out`` on
a filesystem every node sees at the same path. Progress: one line as each run starts and finishes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError
from dermaseg.ray_cluster import check_workers, ray_cluster, ray_gpus
from dermaseg.ray_cluster import run_resources as trial_resources

__all__ = ["run_on_ray", "trial_resources"]


def _trial(config: dict[str, Any], fn: Callable, jobs: Sequence[Any], dataset: Any, cwd: str,
           threads: int) -> None:
    """One Tune trial: run ``jobs[config["job"]]`` with ``fn`` and report its main numbers (or its
    one-line error) to Tune."""
    import torch
    from ray import tune

    if os.path.isdir(cwd):
        os.chdir(cwd)
    torch.set_num_threads(max(1, int(threads)))
    job = jobs[int(config["job"])]
    t0 = time.perf_counter()
    try:
        result = fn(job, dataset, progress=False)
    except DermasegError as e:
        tune.report({"error": str(e), "seconds": time.perf_counter() - t0})
        return
    val = result.get("val") or {}
    dice = (val.get("per_image_mean", {}).get("dice") or {}).get("mean")
    tune.report({"error": "", "dice": dice, "epochs": result.get("epochs"),
                 "seconds": time.perf_counter() - t0})


def _progress_callback(jobs: Sequence[Any], show: bool):
    from ray import tune

    class Progress(tune.Callback):
        """One line per run started and finished (Tune's own tables are off)."""

        def __init__(self) -> None:
            self.done = 0

        def _label(self, trial) -> str:
            job = jobs[int(trial.config["job"])]
            return f"{job.label} -> {job.out}"

        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            if show:
                print(f"started  {self._label(trial)}", flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            r = trial.last_result or {}
            if not show:
                return
            what = (f"error: {r['error']}" if r.get("error") else
                    f"dice {r['dice']:.4f}" if isinstance(r.get("dice"), float) else "done")
            print(f"[{self.done}/{len(jobs)}] {self._label(trial)}: {what} ({r.get('seconds', 0.0):.0f} s)",
                  flush=True)

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            self.done += 1
            if show:
                print(f"[{self.done}/{len(jobs)}] {self._label(trial)}: failed (see {trial.local_path})",
                      flush=True)

    return Progress()


def run_on_ray(fn: Callable, jobs: Sequence[Any], dataset: Any, out: Path, address: str | None = None,
               cpus_per_run: int = 1, device: str | None = None, progress: bool = True,
               name: str = "runs") -> list[dict[str, Any]]:
    """Run ``fn(job, dataset, progress=False)`` for every job as a Tune trial (module docstring); returns
    each trial's last report in job order. A failed run raises one :class:`DermasegError` after every
    other run has finished (their folders are complete, so the next start resumes after them)."""
    if not jobs:
        return []
    check_workers(cpus_per_run)
    with ray_cluster(address, parts=("tune",)) as ray:
        from ray import tune

        resources = trial_resources(ray_gpus(ray), cpus_per_run, device)
        if progress:
            kind = "1 GPU" if "gpu" in resources else f"{cpus_per_run} CPU(s)"
            print(f"ray: {len(jobs)} runs as Tune trials, {kind} each; cluster {ray.cluster_resources()}",
                  flush=True)
        trainable = tune.with_resources(
            tune.with_parameters(_trial, fn=fn, jobs=list(jobs), dataset=dataset, cwd=os.getcwd(),
                                 threads=cpus_per_run), resources)
        storage = Path(out).resolve() / ".ray_tune"
        tuner = tune.Tuner(
            trainable, param_space={"job": tune.grid_search(list(range(len(jobs))))},
            run_config=tune.RunConfig(name=f"{name}-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str(storage),
                                      verbose=0, callbacks=[_progress_callback(jobs, progress)],
                                      failure_config=tune.FailureConfig(max_failures=0)))
        grid = tuner.fit()
        reports: list[dict[str, Any]] = [{} for _ in jobs]
        failed: list[str] = []
        for res in grid:
            i = int(res.config["job"])
            reports[i] = dict(res.metrics or {})
            if res.error is not None:
                failed.append(f"{jobs[i].label}: {type(res.error).__name__} ({res.path})")
            elif reports[i].get("error"):
                failed.append(f"{jobs[i].label}: {reports[i]['error']}")
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise DermasegError(f"{failed[0]}{more}")
    return reports
