"""The local executor of ``dermaseg segment``: decoding, the model and writing overlap.

A bounded producer/consumer in one process. ``decode`` threads read the image files ahead of the model
(at most :attr:`ThreadSplit.depth` images waiting); the calling thread runs the model, ``batch`` images at a
time (default 1: torch's batched convolutions differ from single ones in the last float bits, so a batch of 1
keeps every output byte-identical to the one-after-another run); ``finish`` threads threshold,
post-process, estimate the quality (a CNN in automatic mode:
:meth:`~dermaseg.inference.predictor.Predictor.finish_map`), draw the overlay and write the PNGs. PIL's
decoders and zlib, OpenCV, numpy and torch release the GIL, so threads overlap on several cores.

Each image goes through the same three steps as :func:`~dermaseg.inference.segment_image.segment_one`
(:func:`~dermaseg.inference.segment_image.read_input`, the model, :func:`~dermaseg.inference.segment_image.write_outputs`)
and the rows come back in the order of the images, so the files and results.csv are those of a run one
image after another. An image that fails (unreadable, too small, a write error) fails alone, named; a
failing model batch is retried image by image so only the bad image fails.

Threads (:func:`thread_split`): the model's intra-op threads (torch and onnxruntime) and the two pools
share the cores; measured on 2 cores (docs/speed.md), the rule scales the pools for larger machines.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from dermaseg.data.inputs import SegmentJob
from dermaseg.data.prompts import Prompt
from dermaseg.inference.segment_image import (
    SegmentOptions,
    failure_message,
    predict_image,
    read_input,
    write_outputs,
)

__all__ = ["ThreadSplit", "thread_split", "PipelineStats", "segment_pipelined", "available_cores"]


def available_cores() -> int:
    """The CPU cores this process may use (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadSplit:
    """How a pipelined segment uses the cores: ``model`` intra-op threads (torch / onnxruntime),
    ``decode`` and ``finish`` pool threads, ``batch`` images per model call; ``depth`` images at most
    waiting between two stages."""

    model: int
    decode: int
    finish: int
    batch: int = 1

    @property
    def depth(self) -> int:
        return 2 * (self.decode + self.finish + self.batch)


def thread_split(cores: int | None = None, batch: int = 1) -> ThreadSplit:
    """The default split of ``cores`` (default: :func:`available_cores`): a decode thread per 8 cores, a
    finishing thread per 3 (post-processing and three PNG writes cost about as much as the model at
    768×560), at least one of each, and the rest for the model, at most 16 (a small CNN gains nothing
    beyond that on one image). 2 cores -> model 1, decode 1, finish 1; 4 -> 2/1/1; 8 -> 5/1/2;
    16 -> 9/2/5; 64 -> 16/8/21."""
    n = max(1, int(cores or available_cores()))
    decode = max(1, n // 8)
    finish = max(1, n // 3)
    model = min(16, max(1, n - decode - finish))
    return ThreadSplit(model=model, decode=decode, finish=finish, batch=max(1, int(batch)))


@dataclass
class PipelineStats:
    """What the pipeline measured: ``model_seconds``, the time the calling thread spent in the model."""

    model_seconds: float = 0.0


def _decode(job: SegmentJob) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    rgb = read_input(job)
    return rgb, time.perf_counter() - t0


def segment_pipelined(predictor: Any, todo: list[SegmentJob], prompts: dict[SegmentJob, Prompt | None],
                      options: SegmentOptions, box_model: Any = None, split: ThreadSplit | None = None,
                      stats: PipelineStats | None = None) -> Iterator[tuple[SegmentJob, dict | None, str]]:
    """Segment ``todo`` (module docstring), yielding ``(job, row, "")`` or ``(job, None, error)`` in the
    order of ``todo``. ``stats`` (when given) gets the model's seconds."""
    split = split or thread_split()
    stats = stats if stats is not None else PipelineStats()
    fast = bool(getattr(predictor, "splits", False)) and box_model is None
    batch = split.batch if fast else 1
    jobs = iter(todo)
    decoding: deque[tuple[SegmentJob, Future]] = deque()
    finishing: deque[tuple[SegmentJob, Future | None, str]] = deque()

    def finish(job, rgb, prob_or_pred, prompt, seconds):
        t0 = time.perf_counter()
        if fast:
            pred = predictor.finish_map(prob_or_pred, rgb)
            seconds += time.perf_counter() - t0
        else:
            pred = prob_or_pred
        return write_outputs(predictor, job, rgb, pred, prompt, options, seconds)

    with ThreadPoolExecutor(split.decode, thread_name_prefix="segment-decode") as dpool, \
            ThreadPoolExecutor(split.finish, thread_name_prefix="segment-finish") as fpool:

        def refill() -> None:
            while len(decoding) < split.depth:
                job = next(jobs, None)
                if job is None:
                    return
                decoding.append((job, dpool.submit(_decode, job)))

        def ready(block: bool) -> Iterator[tuple[SegmentJob, dict | None, str]]:
            """Yield finished rows from the front, in order; ``block`` waits until at most ``depth`` wait."""
            while finishing and (finishing[0][1] is None or finishing[0][1].done()
                                 or (block and len(finishing) > split.depth)):
                job, fut, error = finishing.popleft()
                if fut is None:
                    yield job, None, error
                    continue
                try:
                    yield job, fut.result(), ""
                except Exception as e:  # one bad image fails only itself, named
                    yield job, None, failure_message(job, e)

        refill()
        while decoding:
            chunk = []
            while decoding and len(chunk) < batch:
                job, fut = decoding.popleft()
                try:
                    rgb, dt = fut.result()
                    chunk.append((job, rgb, dt))
                except Exception as e:
                    finishing.append((job, None, failure_message(job, e)))
            refill()
            for job, out, prompt, seconds, error in _model(predictor, chunk, prompts, options, box_model,
                                                           fast, stats):
                if error:
                    finishing.append((job, None, error))
                else:
                    rgb = next(r for j, r, _ in chunk if j is job)
                    finishing.append((job, fpool.submit(finish, job, rgb, out, prompt, seconds), ""))
            yield from ready(block=True)
        while finishing:
            if finishing[0][1] is not None:
                finishing[0][1].exception()  # wait for the front one
            yield from ready(block=False)


def _model(predictor, chunk, prompts, options, box_model, fast: bool, stats: PipelineStats):
    """The model on decoded images -> ``(job, prob map or Prediction, prompt, seconds so far, error)``;
    a batch that fails is run again image by image, so only a bad image fails."""
    if not chunk:
        return []
    t0 = time.perf_counter()
    if fast:
        try:
            probs = predictor.cnn_maps([rgb for _, rgb, _ in chunk])
            dt = time.perf_counter() - t0
            stats.model_seconds += dt
            return [(job, p, None, dec + dt / len(chunk), "") for (job, _, dec), p in zip(chunk, probs, strict=True)]
        except Exception as e:
            if len(chunk) == 1:
                stats.model_seconds += time.perf_counter() - t0
                return [(chunk[0][0], None, None, 0.0, failure_message(chunk[0][0], e))]
            return [r for c in chunk for r in _model(predictor, [c], prompts, options, box_model, fast, stats)]
    out = []
    for job, rgb, dec in chunk:
        t1 = time.perf_counter()
        try:
            pred, prompt = predict_image(predictor, job, rgb, prompts[job], options, box_model)
            out.append((job, pred, prompt, dec + time.perf_counter() - t1, ""))
        except Exception as e:  # one bad image fails only itself, named
            out.append((job, None, None, 0.0, failure_message(job, e)))
        stats.model_seconds += time.perf_counter() - t1
    return out
