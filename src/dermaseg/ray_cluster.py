"""Ray, dermaseg's optional cluster engine (``pip install 'dermaseg[ray]'``): one check that it is installed
and one way to reach a cluster, for ``--executor ray`` on ``train --folds``, ``sweep`` and ``segment``.

:func:`ray_cluster` joins the cluster at ``address`` (``auto``, ``HOST:6379`` or ``ray://HOST:10001``), or
starts a local one on this machine when there is none, and shuts down only what it started; a process that
already called ``ray.init`` (a test, a notebook) keeps its cluster. Ray is imported only here and only when
``--executor ray`` is asked for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dermaseg.errors import DermasegError

__all__ = ["RAY_INSTALL", "EXECUTORS", "check_executor", "check_workers", "require_ray", "ray_cluster", "ray_gpus",
           "run_resources"]

#: what to install for --executor ray
RAY_INSTALL = "pip install 'dermaseg[ray]'"
#: the ``--executor`` choices of segment, train --folds and sweep
EXECUTORS = ("local", "ray")


def check_executor(executor: str, parts: tuple[str, ...] | None = None, cpus_per_run: int | None = None,
                   workers: int | None = None) -> str:
    """THE ``--executor`` check: ``executor`` when it is one of :data:`EXECUTORS`, else a one-line
    :class:`DermasegError`; for ``ray`` (before any file is made) Ray and its ``parts`` are installed
    (``parts=None``: not checked here) and the worker shape is sound (:func:`check_workers`)."""
    if executor not in EXECUTORS:
        raise DermasegError(f"--executor {executor}: choose {' or '.join(EXECUTORS)}")
    if executor == "ray":
        if parts is not None:
            require_ray(parts)
        check_workers(cpus_per_run, workers)
    return executor


def check_workers(cpus_per_run: int | None = None, workers: int | None = None) -> None:
    """``--cpus-per-run`` and ``--workers`` (None: not given) are at least 1, else DermasegError."""
    if cpus_per_run is not None and cpus_per_run < 1:
        raise DermasegError(f"--cpus-per-run {cpus_per_run}: must be at least 1")
    if workers is not None and workers < 1:
        raise DermasegError(f"--workers {workers}: must be at least 1")


def require_ray(parts: tuple[str, ...] = ()) -> Any:
    """The ``ray`` module (and its ``parts``, e.g. ``("tune",)``), or a one-line :class:`DermasegError`
    saying what to install."""
    import importlib

    try:
        ray = importlib.import_module("ray")
        for part in parts:
            importlib.import_module(f"ray.{part}")
    except ImportError as e:
        raise DermasegError(f"--executor ray: Ray is not installed ({e.name}); {RAY_INSTALL}") from None
    return ray


@contextmanager
def ray_cluster(address: str | None = None, parts: tuple[str, ...] = ()) -> Iterator[Any]:
    """``ray``, connected: to the cluster at ``address``, else to a local one started here (stopped on
    exit); an already initialised Ray is used as it is."""
    ray = require_ray(parts)
    started = False
    if not ray.is_initialized():
        # Ray's own warnings (e.g. that token authentication is on) are not the user's business: errors only
        kw: dict[str, Any] = {"log_to_driver": False, "logging_level": "ERROR"}
        if address is None:
            kw["include_dashboard"] = False
        try:
            ray.init(address=address, **kw)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DermasegError(f"--address {address}: cannot join the Ray cluster ({first})") from None
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def ray_gpus(ray: Any) -> float:
    """GPUs the connected cluster has in all."""
    return float(ray.cluster_resources().get("GPU", 0.0))


def run_resources(gpus: float, cpus_per_run: int, device: str | None) -> dict[str, float]:
    """What one run (a Tune trial, a segment worker) asks for: one GPU when the cluster has GPUs and
    ``device`` allows CUDA, else ``cpus_per_run`` CPUs."""
    if gpus >= 1 and (device is None or str(device).startswith("cuda")):
        return {"cpu": 1.0, "gpu": 1.0}
    return {"cpu": float(cpus_per_run)}
