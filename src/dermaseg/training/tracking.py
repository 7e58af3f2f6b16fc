"""Experiment tracking of ``dermaseg train`` and ``dermaseg sweep`` (``--track mlflow|tensorboard``).

The run folders stay the record (config.json, history.csv, metrics.json, report.html, best.pt); a tracker
copies what they hold into MLflow or TensorBoard so runs can be compared there. It only reads what the
training writes and never touches a random-number generator, so a tracked run's numbers are those of the
same run untracked.

What is logged, per run (a single ``train`` run, each fold of a CV, the final refit, each fold of each sweep
point): the parameters (the recipe, flattened as ``recipe.<field>``, the data, split, seed, fold), every
epoch's ``train_loss``, ``val_loss``, ``val_dice``, ``val_iou``, ``lr`` and ``seconds`` (step = epoch, live
from the trainer's epoch hook), the final evaluation of ``best.pt`` from metrics.json (``eval_<metric>``: the
per-image means, ``eval_pooled_<metric>``: the pooled ones) and, as artefacts, metrics.json, config.json,
history.csv, report.html and the model file best.pt. A CV is a parent run with one nested run per fold (and
the final refit); it gets the mean and std over folds (``cv_<metric>_mean``, ``cv_<metric>_std``) and
cv_table.csv, cv_summary.json, report.html. A sweep is a parent run, each grid point a nested CV run, each
fold a run nested in that.

- ``mlflow`` (``pip install 'dermaseg[track]'``, mlflow-skinny): a local file store ``OUT/mlruns`` unless
  ``--tracking-uri`` names another (a server ``http://HOST:5000``, ``sqlite:///...``, a folder); experiment
  ``dermaseg``. MLflow >= 3.7 keeps its file store only with ``MLFLOW_ALLOW_FILE_STORE=true``, which is set
  for a file store (and ``MLFLOW_DISABLE_TELEMETRY=true`` always) unless already set. Browse with the full
  ``mlflow`` package: ``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri OUT/mlruns``.
- ``tensorboard`` (``torch.utils.tensorboard``, needs the ``tensorboard`` package): event files under
  ``OUT/tensorboard`` (or ``--tracking-uri DIR``), one sub-folder per run (``fold_0``, ``final``,
  ``<point>/fold_0``), scalars ``train/loss``, ``val/dice``, ... per epoch and ``eval/<metric>`` at the end;
  ``tensorboard --logdir OUT/tensorboard``.

Under torchrun only rank 0 logs. With ``--executor ray`` the runs happen in other processes: each fold is
logged from its finished folder after the trials end (its epochs included, not live).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dermaseg.errors import DermasegError

__all__ = ["TRACK_CHOICES", "Tracker", "open_tracker", "run_params", "EPOCH_METRICS"]

TRACK_CHOICES = ("mlflow", "tensorboard")
EPOCH_METRICS = ("train_loss", "val_loss", "val_dice", "val_iou", "lr", "seconds")
INSTALL = "pip install 'dermaseg[track]'"
EXPERIMENT = "dermaseg"
RUN_ARTEFACTS = ("metrics.json", "config.json", "history.csv", "report.html", "best.pt")
GROUP_ARTEFACTS = ("cv_table.csv", "cv_summary.json", "report.html", "sweep_table.csv")


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif v is not None:
            text = v if isinstance(v, str) else json.dumps(v, default=str)
            out[key] = text[:500]
    return out


def run_params(config: dict[str, Any]) -> dict[str, str]:
    """A run's config.json as tracker parameters: flattened (``recipe.lr``), image id lists left out."""
    return _flatten({k: v for k, v in config.items() if k not in ("train_ids", "val_ids")})


def eval_metrics(folder: Path) -> dict[str, float]:
    """``eval_<metric>`` (per-image means) and ``eval_pooled_<metric>`` from ``folder/metrics.json``."""
    p = Path(folder) / "metrics.json"
    if not p.is_file():
        return {}
    s = json.loads(p.read_text(encoding="utf-8")).get("summary", {})
    out = {}
    for m, e in (s.get("per_image_mean") or {}).items():
        v = _finite(e.get("mean") if isinstance(e, dict) else e)
        if v is not None:
            out[f"eval_{m}"] = v
    for m, e in (s.get("pooled") or {}).items():
        v = _finite(e) if m not in ("tp", "fp", "fn", "tn") else None  # the pixel counts: not metrics
        if v is not None:
            out[f"eval_pooled_{m}"] = v
    return out


def group_metrics(folder: Path) -> dict[str, float]:
    """``cv_<metric>_mean``/``_std`` (and ``cv_pooled_...``) from ``folder/cv_summary.json``."""
    p = Path(folder) / "cv_summary.json"
    if not p.is_file():
        return {}
    s = json.loads(p.read_text(encoding="utf-8"))
    out = {}
    for kind, prefix in (("per_image_mean", "cv_"), ("pooled", "cv_pooled_")):
        for m, st in (s.get(kind) or {}).items():
            for stat in ("mean", "std"):
                v = _finite(st.get(stat)) if isinstance(st, dict) else None
                if v is not None:
                    out[f"{prefix}{m}_{stat}"] = v
    return out


def history_rows(folder: Path) -> list[dict[str, float]]:
    """The epochs of ``folder/history.csv`` as numbers."""
    p = Path(folder) / "history.csv"
    if not p.is_file():
        return []
    with p.open(encoding="utf-8", newline="") as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0") or 0) == 0


class _Backend:
    """What a tracking service does; the base class does nothing (no ``--track``)."""

    def start(self, name: str, key: str, depth: int) -> None: ...
    def params(self, params: dict[str, str]) -> None: ...
    def metrics(self, metrics: dict[str, float], step: int | None) -> None: ...
    def artefacts(self, folder: Path, names: tuple[str, ...]) -> None: ...
    def end(self, failed: bool) -> None: ...


class _MLflow(_Backend):
    def __init__(self, uri: str) -> None:
        import logging

        import mlflow

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not "Creating a new experiment" on stdout
        self.mlflow = mlflow
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(EXPERIMENT)

    def start(self, name, key, depth):
        self.mlflow.start_run(run_name=name, nested=depth > 0, tags={"dermaseg.run": key or "."})

    def params(self, params):
        self.mlflow.log_params(params)

    def metrics(self, metrics, step):
        self.mlflow.log_metrics(metrics, step=step)

    def artefacts(self, folder, names):
        for n in names:
            if (folder / n).is_file():
                self.mlflow.log_artifact(str(folder / n))

    def end(self, failed):
        self.mlflow.end_run(status="FAILED" if failed else "FINISHED")


class _TensorBoard(_Backend):
    def __init__(self, logdir: Path, writer_cls) -> None:
        self.logdir, self.writer_cls, self.writers = Path(logdir), writer_cls, []

    def start(self, name, key, depth):
        self.writers.append(self.writer_cls(log_dir=str(self.logdir / key if key else self.logdir)))

    def params(self, params):
        self.writers[-1].add_text("params", "\n".join(f"    {k} = {v}" for k, v in sorted(params.items())))

    def metrics(self, metrics, step):
        for k, v in metrics.items():
            tag = k.replace("_", "/", 1) if k.startswith(("train_", "val_", "eval_", "cv_")) else k
            self.writers[-1].add_scalar(tag, v, global_step=step or 0)

    def end(self, failed):
        w = self.writers.pop()
        w.flush()
        w.close()


class Tracker:
    """Runs nested as the folders are: :meth:`group` (a CV, a sweep; started only when something is
    logged in it, so no file appears before the first run starts) and :meth:`run` (one training run)."""

    def __init__(self, backend: _Backend | None = None, root: Path | None = None) -> None:
        self.backend = backend or _Backend()
        self.root = Path(root) if root is not None else None
        self.active = backend is not None
        self._stack: list[dict[str, Any]] = []  # {"name", "key", "params", "started"}

    def _key(self, folder: Path) -> str:
        """``folder`` relative to the command's folder (``""`` for the folder itself), else its name."""
        if self.root is not None:
            with contextlib.suppress(ValueError):
                rel = Path(folder).resolve().relative_to(self.root.resolve()).as_posix()
                return "" if rel == "." else rel
        return Path(folder).name

    def _materialise(self) -> None:
        for depth, entry in enumerate(self._stack):
            if not entry["started"]:
                self.backend.start(entry["name"], entry["key"], depth)
                entry["started"] = True
                if entry["params"]:
                    self.backend.params(entry["params"])

    @contextlib.contextmanager
    def _entry(self, folder: Path, params: dict[str, str] | None, eager: bool) -> Iterator[None]:
        if not (self.active and _is_main()):
            yield
            return
        self._stack.append({"name": Path(folder).name, "key": self._key(folder), "params": params or {},
                            "started": False})
        if eager:
            self._materialise()
        failed = True
        try:
            yield
            failed = False
        finally:
            entry = self._stack.pop()
            if entry["started"]:
                self.backend.end(failed)

    def group(self, folder: Path, params: dict[str, Any] | None = None):
        """A parent run for the runs inside ``folder`` (a CV or a sweep)."""
        return self._entry(folder, _flatten(params or {}), eager=False)

    def run(self, folder: Path, params: dict[str, Any] | None = None):
        """One training run in ``folder`` (nested in the open groups)."""
        return self._entry(folder, _flatten(params or {}), eager=True)

    def epoch(self, row: dict[str, Any]) -> None:
        """The trainer's epoch hook: one epoch's numbers, step = epoch."""
        if not self._stack or not self.active:
            return
        self._stack[-1].setdefault("epochs", set()).add(int(row["epoch"]))
        m = {k: _finite(row.get(k)) for k in EPOCH_METRICS}
        self.backend.metrics({k: v for k, v in m.items() if v is not None}, int(row["epoch"]))

    def callback(self, then=None):
        """A trainer callback: :meth:`epoch` at every epoch, then ``then`` (if any) with every event;
        ``then`` itself when nothing is tracked."""
        if not self.active:
            return then
        def hook(event: dict[str, Any]) -> None:
            if event.get("stage") == "epoch":
                self.epoch(event)
            if then is not None:
                then(event)
        return hook

    def finish_run(self, folder: Path) -> None:
        """After a run: epochs not seen live (resumed, or run elsewhere), the final evaluation, artefacts."""
        if not self._stack or not self.active:
            return
        folder = Path(folder)
        seen = self._stack[-1].get("epochs", set())
        for row in history_rows(folder):
            if int(row.get("epoch", 0)) not in seen:
                self.epoch(row)
        ev = eval_metrics(folder)
        if ev:
            self.backend.metrics(ev, max(seen | {int(r["epoch"]) for r in history_rows(folder)}, default=0))
        self.backend.artefacts(folder, RUN_ARTEFACTS)

    def log_folder(self, folder: Path) -> None:
        """A finished run folder logged after the fact as one run (a Ray trial)."""
        folder = Path(folder)
        cfg_path = folder / "config.json"
        config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
        with self._entry(folder, run_params(config), eager=True):
            self.finish_run(folder)

    def finish_group(self, folder: Path) -> None:
        """After a CV or sweep: its mean ± std over folds and its tables and report."""
        if not self._stack or not self.active:
            return
        self._materialise()
        gm = group_metrics(Path(folder))
        if gm:
            self.backend.metrics(gm, None)
        self.backend.artefacts(Path(folder), GROUP_ARTEFACTS)


def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise DermasegError(f"--track: {module.split('.')[0]} is not installed ({e}); {INSTALL}") from e


def open_tracker(track: str | None, out: Path, uri: str | None = None) -> Tracker:
    """The tracker of ``--track`` (None: one that does nothing) for the command whose folder is ``out``;
    checks the extra is installed and makes no file (runs start when training starts)."""
    if track is None:
        if uri is not None:
            raise DermasegError("--tracking-uri needs --track mlflow or --track tensorboard")
        return Tracker()
    if track not in TRACK_CHOICES:
        raise DermasegError(f"--track {track}: choose one of {', '.join(TRACK_CHOICES)}")
    out = Path(out)
    if track == "tensorboard":
        writer = _require("torch.utils.tensorboard").SummaryWriter
        return Tracker(_TensorBoard(Path(uri) if uri else out / "tensorboard", writer), root=out)
    if uri is None:
        uri = (out / "mlruns").resolve().as_uri()
    elif "://" not in uri and not uri.startswith(("file:", "sqlite:", "databricks")):
        uri = Path(uri).resolve().as_uri()  # a folder
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _require("mlflow")
    return Tracker(_LazyMLflow(uri), root=out)


class _LazyMLflow(_MLflow):
    """MLflow set up at the first run, so a run that fails before training leaves no ``mlruns``."""

    def __init__(self, uri: str) -> None:
        self.uri, self.mlflow = uri, None

    def start(self, name, key, depth):
        if self.mlflow is None:
            super().__init__(self.uri)
        super().start(name, key, depth)
