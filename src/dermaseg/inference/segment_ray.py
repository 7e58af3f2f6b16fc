"""``dermaseg segment --executor ray``: the images still to do, segmented by Ray Data actors on a Ray cluster.

The driver (:mod:`dermaseg.inference.segment`) checks everything, decides which images are already done
(``--skip-existing``) and hands the rest to :func:`segment_on_ray`: a Ray Dataset of their indices, mapped
with ``map_batches`` by :class:`SegmentWorker`, a callable class run as a pool of ``workers`` actors. Each
actor loads the Predictor ONCE (from a :class:`PredictorSpec`: the model name or file and the options of
:func:`~dermaseg.inference.predictor.load_predictor`) and calls the same
:func:`~dermaseg.inference.segment_image.segment_one` as the local loop for every image of its batches, so it
writes exactly the local run's files. Each image comes back to the driver as its results.csv row (all cells
as text) or as an error marker naming the image (a failing image fails only itself); the driver journals the
rows, shows progress and writes results.csv and the summary as the local run does.

An actor asks for one GPU where the cluster has GPUs (and ``--device`` is not ``cpu``), else
``cpus_per_run`` CPUs, and sets torch's threads to ``cpus_per_run``. The nodes need dermaseg installed and
the inputs and ``--out`` at the same path (a shared filesystem).
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dermaseg.data.inputs import SegmentJob
from dermaseg.data.prompts import Prompt
from dermaseg.errors import DermasegError
from dermaseg.inference.model_box import BOX_MODEL
from dermaseg.inference.predictor import load_predictor
from dermaseg.inference.segment_image import SegmentOptions, failure_message, segment_one
from dermaseg.ray_cluster import check_workers, ray_cluster, ray_gpus, run_resources

__all__ = ["PredictorSpec", "SegmentWorker", "segment_on_ray", "default_workers", "BATCH", "INDEX", "ERROR", "IMAGE",
           "OUTPUT", "PROMPT"]

#: images per Ray Data batch (small: a batch is also the unit of progress and of load balance)
BATCH = 4
#: the index column (into the driver's job list), the error-marker column of the rows workers return, and
#: the job columns of the rows they are given (image path, output name, the prompt pickled)
INDEX, ERROR = "__index", "__error"
IMAGE, OUTPUT, PROMPT = "__image", "__output", "__prompt"


@dataclass(frozen=True)
class PredictorSpec:
    """How a worker builds its Predictor: ``model`` (a registry name, a model file, or a picklable model
    instance) with :func:`load_predictor`'s options; ``box_from_model`` also loads the bundled box model."""

    model: Any
    checkpoint: Any = None
    device: str | None = None
    auto: str | None = None
    tta: bool | None = None
    postprocess: bool = True
    backend: str = "torch"
    box_from_model: bool = False

    def load(self, device: str | None = None) -> tuple[Any, Any]:
        """(predictor, box model or None) on ``device`` (default: the spec's)."""
        device = device if device is not None else self.device
        predictor = load_predictor(self.model, checkpoint=self.checkpoint, device=device, auto=self.auto,
                                   tta=self.tta, postprocess=self.postprocess, backend=self.backend)
        box_model = (load_predictor(BOX_MODEL, device=str(predictor.device), backend=self.backend)
                     if self.box_from_model else None)
        return predictor, box_model


class SegmentWorker:
    """A Ray Data actor: loads the Predictor once, then segments every batch of job indices it is given."""

    def __init__(self, spec: PredictorSpec, options: SegmentOptions, threads: int = 1,
                 device: str | None = None) -> None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
        self.predictor, self.box_model = spec.load(device)
        self.options = options

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A batch of B jobs (columns INDEX, IMAGE, OUTPUT, PROMPT, each (B,)) -> columns of B rows: INDEX,
        ERROR ("" when it worked) and results.csv's columns as text (empty for a failed image)."""
        import numpy as np

        cols = (INDEX, ERROR, *self.options.columns)
        out: dict[str, list] = {c: [] for c in cols}
        for i, image, output, prompt in zip(batch[INDEX], batch[IMAGE], batch[OUTPUT], batch[PROMPT], strict=True):
            job = SegmentJob(Path(str(image)), str(output))
            try:
                row, error = segment_one(self.predictor, job, pickle.loads(prompt), self.options, self.box_model), ""
            except Exception as e:  # one bad image fails only itself; its message comes back as the marker
                row, error = {}, failure_message(job, e)
            out[INDEX].append(int(i))
            out[ERROR].append(error)
            for c in self.options.columns:
                out[c].append("" if row.get(c) is None else str(row[c]))
        return {c: np.asarray(v, dtype=np.int64 if c == INDEX else object) for c, v in out.items()}


def _cause(error: BaseException) -> str:
    """The useful line of a Ray error: a DermasegError's message where the worker raised one, else the last
    line of the worker's traceback (Ray's own text, colour codes removed)."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(error).splitlines()]
    lines = [ln for ln in lines if ln]
    ours = [ln.split("DermasegError: ", 1)[1] for ln in lines if "DermasegError: " in ln]
    return ours[-1] if ours else lines[-1] if lines else type(error).__name__


def default_workers(ray: Any, resources: dict[str, float]) -> int:
    """As many actors as the cluster has room for: one per GPU, else its CPUs / CPUs per actor."""
    total = ray.cluster_resources()
    if "gpu" in resources:
        return max(1, int(total.get("GPU", 1)))
    return max(1, int(total.get("CPU", 1) // resources["cpu"]))


def segment_on_ray(spec: PredictorSpec, todo: Sequence[SegmentJob], prompts: Sequence[Prompt | None],
                   options: SegmentOptions, address: str | None = None, cpus_per_run: int = 1,
                   workers: int | None = None, echo: Any = None
                   ) -> Iterator[tuple[SegmentJob, dict[str, str] | None, str]]:
    """Segment ``todo`` (with ``prompts[i]`` for ``todo[i]``) on a Ray cluster (module docstring); yields
    ``(job, row, "")`` or ``(job, None, error)`` for each image as its batch finishes. ``echo(line)`` is told
    the pool's shape once."""
    if not todo:
        return
    check_workers(cpus_per_run, workers)
    with ray_cluster(address, parts=("data",)) as ray:
        resources = run_resources(ray_gpus(ray), cpus_per_run, spec.device)
        n = min(len(todo), workers or default_workers(ray, resources))
        gpu = "gpu" in resources
        device = spec.device if gpu or spec.device in ("cpu", "mps") else "cpu"
        if echo is not None:
            total = ray.cluster_resources()
            echo(f"ray: {len(todo)} images on {n} worker(s), {'1 GPU' if gpu else f'{cpus_per_run} CPU(s)'} "
                 f"each (Ray Data, batches of {BATCH}); cluster: {total.get('CPU', 0):g} CPUs, "
                 f"{total.get('GPU', 0):g} GPUs")
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the driver's own bar counts images
        ctx.print_on_execution_start = False
        items = [{INDEX: i, IMAGE: str(job.image), OUTPUT: job.output, PROMPT: pickle.dumps(p)}
                 for i, (job, p) in enumerate(zip(todo, prompts, strict=True))]
        ds = ray.data.from_items(items, override_num_blocks=max(1, -(-len(todo) // BATCH)))
        rows = ds.map_batches(
            SegmentWorker, batch_size=BATCH, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=n),
            num_cpus=resources["cpu"], num_gpus=resources.get("gpu", 0),
            fn_constructor_kwargs={"spec": spec, "options": options, "threads": cpus_per_run, "device": device})
        data_log = logging.getLogger("ray.data")
        level = data_log.level
        data_log.setLevel(logging.CRITICAL)  # Ray Data's own lines and tracebacks: the driver says it in one
        try:
            for r in rows.iter_rows():
                job = todo[int(r[INDEX])]
                if r[ERROR]:
                    yield job, None, str(r[ERROR])
                else:
                    yield job, {c: str(r[c]) for c in options.columns}, ""
        except Exception as e:  # a worker that could not start or died: not one image's fault
            raise DermasegError(f"--executor ray: a segment worker failed ({_cause(e)}); the finished images "
                                "are kept, rerun with --skip-existing to resume") from None
        finally:
            data_log.setLevel(level)
