"""Score a model on a dataset: one prompt protocol, every image at its own resolution.

``evaluate(dataset, predictor, prompt_mode)`` is the library function: for each sample it reads the
image and the true mask (:mod:`dermaseg.io`), makes the prompt (:mod:`dermaseg.data.prompts`:
SkinSAM's simulation from the truth for ``box | point | box+point``; ``center | center-box`` from the
image geometry only; ``box-from-model`` from the automatic model; ``none``), asks the
:class:`~dermaseg.inference.predictor.Predictor` for a mask (the one path to a mask in dermaseg) and
scores it against the truth at the image's original size with :mod:`dermaseg.evaluation.metrics`.

``evaluate_cli(...)`` is what ``dermaseg evaluate`` calls: it loads the dataset and the predictor,
runs :func:`evaluate` and writes ``metrics.json``, ``per_image.csv``, ``cases/`` and (unless
``report=False``) ``report.html`` + ``figures/`` through :mod:`dermaseg.evaluation.outputs`, all
staged in a temporary folder and moved into place only when everything succeeded.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.data.prompts import Prompt, make_prompt
from dermaseg.data.readers import load_dataset, warn_table_problems
from dermaseg.data.sampling import sample_subset
from dermaseg.errors import DataError, DermasegError
from dermaseg.evaluation.metrics import IMAGE_METRICS, by_group, image_metrics, summarize
from dermaseg.evaluation.outputs import write_evaluation
from dermaseg.inference.model_box import BOX_MODEL, model_box_prompt
from dermaseg.inference.predictor import PredictorLike, load_predictor
from dermaseg.inference.segment_pipeline import thread_split
from dermaseg.io import check_out, read_image, read_mask
from dermaseg.measure.per_image import measurement_columns
from dermaseg.models.files import read_model_file
from dermaseg.models.registry import names_model_file, require_trained

__all__ = ["PROMPT_MODES", "EvaluationResult", "evaluate", "evaluate_cli", "evaluation_meta"]

#: Every ``--prompt`` value. ``box``/``point``/``box+point`` are simulated from the ground truth.
PROMPT_MODES: tuple[str, ...] = ("none", "box", "point", "box+point", "center", "center-box",
                                 "box-from-model")
RESOLUTION = "original (each image's own height x width; no resizing before scoring)"


@dataclass
class EvaluationResult:
    """Everything one evaluation produced, before it is written anywhere.

    ``rows``: one dict per image (id, label, group, height, width, every metric of
    :func:`~dermaseg.evaluation.metrics.image_metrics`, score, predicted_quality, flag, pred_area, truth_area,
    prompt, seconds).
    ``masks``: predicted H×W masks packed with ``np.packbits`` (id -> (packed, shape)), kept so the
    report's example panels can be drawn later without the model. ``prompts``: id -> prompt dict.
    """

    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    per_diagnosis: dict[str, Any]
    prompt_mode: str
    prompt_source: str
    seed: int
    seconds_total: float
    seconds_model: float
    masks: dict[str, tuple[np.ndarray, tuple[int, int]]] = field(default_factory=dict)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, Any] = field(default_factory=dict)
    #: how the scored images were chosen (:func:`dermaseg.data.sampling.sample_subset`'s description)
    sample: dict[str, Any] = field(default_factory=dict)
    #: where the networks ran
    backend: str = "torch"

    def mask(self, sample_id: str) -> np.ndarray:
        """The predicted H×W bool mask of one image."""
        packed, shape = self.masks[sample_id]
        return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def _check_mode(prompt_mode: str, predictor: PredictorLike) -> None:
    if prompt_mode not in PROMPT_MODES:
        raise DermasegError(f"unknown prompt mode {prompt_mode!r}; choose one of: {', '.join(PROMPT_MODES)}")
    if prompt_mode != "none" and not getattr(predictor, "promptable", False):
        name = getattr(predictor, "name", "this model")
        raise DermasegError(f"model {name} takes no prompt; use --prompt none "
                            f"(or a promptable SAM-family model for --prompt {prompt_mode})")


def _no_prompt_source(predictor: Any, pred: Any) -> str:
    """What ran when no prompt was given: the automatic pipeline, or SAM's own no-prompt output."""
    if not getattr(predictor, "promptable", False):
        auto = getattr(predictor, "auto", None) or "cnn"
        return f"none (automatic {auto}: {getattr(predictor, 'name', 'model')})"
    return str(getattr(pred, "source", "") or "none")


def _samples(dataset: Any, limit: int | None, limit_mode: str = "stratified", seed: int = 0
             ) -> tuple[list[Any], dict[str, Any]]:
    """The samples to score (``limit``: a sample of N, :mod:`dermaseg.data.sampling`) and how they were
    chosen; no image, or an image without a mask, raises :class:`DataError`."""
    samples, info = sample_subset(list(getattr(dataset, "samples", dataset)), limit, limit_mode, seed)
    if not samples:
        root = getattr(dataset, "root", "the dataset")
        raise DataError(f"{root}: no images to evaluate")
    missing = [s for s in samples if getattr(s, "mask", None) is None]
    if missing:
        root = getattr(dataset, "root", "the dataset")
        raise DataError(f"{root}: {len(missing)} of {len(samples)} images have no mask "
                        f"(first: {missing[0].image}); evaluation needs a true mask for every image")
    return samples, info


def evaluate(dataset: Any, predictor: PredictorLike, prompt_mode: str = "none", *, seed: int = 0,
             limit: int | None = None, limit_mode: str = "stratified", progress: bool = True,
             with_hd95: bool = True, measurements: bool = True,
             box_model: PredictorLike | None = None, box_model_name: str = BOX_MODEL,
             on_error: str = "skip") -> EvaluationResult:
    """Score ``predictor`` on every sample of ``dataset`` (a Dataset or an iterable of Samples).

    ``predictor`` is anything with the :class:`~dermaseg.inference.predictor.PredictorLike` interface
    (``set_image``, ``predict(box=, points=, point_labels=)``, ``promptable``, ``name``, ``device``): the
    :class:`~dermaseg.inference.predictor.Predictor`, or a test double.

    Each image is scored at its original resolution against its own mask. ``seed`` seeds the simulated
    prompts; each image's prompt depends on (seed, image id) only (:func:`dermaseg.data.prompts.rng_for`),
    not on ``limit`` or the order. ``limit`` N scores a sample of N images: seeded by ``seed`` and
    stratified by diagnosis (``limit_mode="stratified"``), or the first N (``"first"``); see
    :mod:`dermaseg.data.sampling`. ``box_model`` is the promptless predictor whose mask's bounding box
    is the prompt for ``box-from-model`` (default: the bundled automatic model, ``box_model_name``);
    its time counts in the per-image seconds. ``measurements`` adds each image's predicted and true lesion
    measurements (:mod:`dermaseg.measure.per_image`; not counted in the seconds). Raises
    :class:`DermasegError` for an
    unknown prompt mode, a prompt mode on a promptless model, or a sample without a mask.
    ``on_error``: an image or mask that cannot be read (corrupt, truncated, sizes differ) is reported
    on stderr and left out (``"skip"``, listed in ``sample["skipped"]`` of metrics.json), or stops the
    run (``"stop"``).
    """
    if on_error not in ("skip", "stop"):
        raise DermasegError(f"--on-error {on_error}: expected skip or stop")
    _check_mode(prompt_mode, predictor)
    samples, sample_info = _samples(dataset, limit, limit_mode, seed)
    if prompt_mode == "box-from-model" and box_model is None:
        box_model = load_predictor(box_model_name, device=getattr(predictor, "device", None),
                                   backend=getattr(predictor, "backend", "torch"))
    rows: list[dict[str, Any]] = []
    masks: dict[str, tuple[np.ndarray, tuple[int, int]]] = {}
    prompts: dict[str, dict[str, Any]] = {}
    sources: set[str] = set()
    t_start = time.perf_counter()
    model_seconds = 0.0
    skipped: list[str] = []
    bar = _progress(samples, progress, f"evaluate ({prompt_mode}, whole run)")
    split = thread_split()
    with ThreadPoolExecutor(split.decode, thread_name_prefix="evaluate-read") as reader, \
            ThreadPoolExecutor(split.finish, thread_name_prefix="evaluate-score") as scorer:
        # images and masks are read ahead, and each mask is scored (metrics, HD95, measurements) in a thread
        # while the model runs on the next image: the same numbers, in the same order
        reads = [reader.submit(_read_pair, s) for s in samples[:split.depth]]
        pending: list[tuple[dict[str, Any], Any]] = []
        for i, s in enumerate(bar):
            try:
                rgb, truth = reads[i].result()
            except DataError as e:
                if on_error == "stop":
                    raise
                print(f"warning: skipped: {e}", file=sys.stderr)
                skipped.append(str(e))
                continue
            finally:
                reads[i] = None
                if i + split.depth < len(samples):
                    reads.append(reader.submit(_read_pair, samples[i + split.depth]))
            t0 = time.perf_counter()
            if prompt_mode == "box-from-model":  # the box model's time is part of this pipeline's time
                prompt = model_box_prompt(box_model, rgb, box_model_name)
            else:
                prompt = make_prompt(prompt_mode, truth.shape, truth, seed=seed, image_id=s.id)
                t0 = time.perf_counter()
            predictor.set_image(rgb)
            pred = predictor.predict(**prompt.kwargs())
            dt = time.perf_counter() - t0
            model_seconds += dt
            sources.add(prompt.source if prompt_mode != "none" else _no_prompt_source(predictor, pred))
            mask = np.asarray(pred.mask, dtype=bool)
            if mask.shape != truth.shape:
                raise DermasegError(f"model returned a {mask.shape[1]}x{mask.shape[0]} mask for {s.image} "
                                    f"({truth.shape[1]}x{truth.shape[0]}); predictions must be at input size")
            used = prompt.kwargs()
            if getattr(pred, "box", None) is not None and used.get("box") is None:
                used["box"] = pred.box  # e.g. the box an automatic cnn+sam pipeline chose
            used_text = Prompt.of(used).describe(compact=True)
            row: dict[str, Any] = {"id": s.id, "label": s.label or "", "group": getattr(s, "group", s.id),
                                   "height": truth.shape[0], "width": truth.shape[1]}
            score = getattr(pred, "score", None)
            quality = getattr(pred, "quality", None)
            tail = {"score": "" if score is None else float(score),
                    "predicted_quality": "" if quality is None else float(quality),
                    "flag": ";".join(getattr(pred, "flags", ()) or ()), "pred_area": int(mask.sum()),
                    "truth_area": int(truth.sum()), "prompt": used_text, "seconds": dt}
            pending.append((row, scorer.submit(_score, mask, truth, rgb, with_hd95, measurements, tail)))
            masks[s.id] = (np.packbits(mask.ravel()), mask.shape)
            prompts[s.id] = {k: (np.asarray(v).tolist() if v is not None else None) for k, v in used.items()}
        for row, fut in pending:
            row.update(fut.result())
            rows.append(row)
    total = time.perf_counter() - t_start
    if skipped:
        sample_info = {**sample_info, "skipped": skipped}
        if not rows:
            raise DataError(f"no image could be read ({len(skipped)} skipped; the first: {skipped[0]})")
    metrics = tuple(m for m in IMAGE_METRICS if with_hd95 or m != "hd95")
    return EvaluationResult(
        rows=rows, summary=summarize(rows, metrics), per_diagnosis=by_group(rows, "label", metrics),
        prompt_mode=prompt_mode, prompt_source=" + ".join(sorted(sources)), seed=int(seed),
        seconds_total=total, seconds_model=model_seconds, masks=masks, prompts=prompts,
        samples={s.id: s for s in samples}, sample=sample_info, backend=str(getattr(predictor, "backend", "torch")))


def _read_pair(s: Any) -> tuple[np.ndarray, np.ndarray]:
    """A sample's image and true mask, checked to be the same size."""
    rgb = read_image(s.image)
    truth = read_mask(s.mask)
    if truth.shape != rgb.shape[:2]:
        raise DataError(f"{s.mask}: mask is {truth.shape[1]}x{truth.shape[0]} but its image "
                        f"{s.image} is {rgb.shape[1]}x{rgb.shape[0]}")
    return rgb, truth


def _score(mask: np.ndarray, truth: np.ndarray, rgb: np.ndarray, hd95: bool, measurements: bool,
           tail: dict[str, Any]) -> dict[str, Any]:
    """One image's row after its id columns: the metrics, ``tail`` (score ... seconds), the measurements."""
    out: dict[str, Any] = dict(image_metrics(mask, truth, hd95=hd95))
    out.update(tail)
    if measurements:
        out.update(measurement_columns(mask, truth, rgb))
    return out


def _progress(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="img", leave=False)


def evaluate_cli(data: Path, model: str = "default", prompt: str = "none", out: Path | None = None,
                 split: str = "auto", limit: int | None = None, limit_mode: str = "stratified", seed: int = 0,
                 checkpoint: Path | None = None, auto: str | None = None, tta: bool | None = None,
                 postprocess: bool = True, report: bool = True, format: str = "auto",
                 device: str | None = None, backend: str = "torch", on_error: str = "skip") -> Path:
    """``dermaseg evaluate``: load data and model, score, write ``out/`` atomically. Returns ``out``.
    ``backend``: where the networks run (torch, onnx, onnx-int8; :class:`~dermaseg.inference.predictor.Predictor`)."""
    if out is None:
        raise DermasegError("--out is required")
    if prompt not in PROMPT_MODES:
        raise DermasegError(f"unknown prompt mode {prompt!r}; choose one of: {', '.join(PROMPT_MODES)}")
    check_out(out, inputs=(data,))
    ds = load_dataset(Path(data), format=format)
    warn_table_problems(ds)  # the rows data check reports, said here too
    sel = ds.select(split)
    _samples(sel, limit, limit_mode, seed)  # fail on missing masks before loading a model
    require_trained(model)  # an architecture with a random decoder: refused, naming the fix
    predictor = load_predictor(model=model, checkpoint=checkpoint, device=device, auto=auto, tta=tta,
                               postprocess=postprocess, backend=backend)
    _check_mode(prompt, predictor)
    result = evaluate(sel, predictor, prompt, seed=seed, limit=limit, limit_mode=limit_mode, on_error=on_error)
    warn_trained_on(model, [r["id"] for r in result.rows])
    meta = evaluation_meta(predictor, requested=str(model), checkpoint=checkpoint, dataset={
        "format": getattr(ds, "format", format), "root": str(Path(data).resolve()), "split": split,
        "split_resolved": _resolved_split(sel, split), "count": len(result.rows),
        "available": len(getattr(sel, "samples", [])), "limit": limit,
        "limit_mode": result.sample.get("mode")})
    write_evaluation(result, Path(out), meta, report=report)
    print(_one_line(result, Path(out)))
    return Path(out)


def warn_trained_on(model: Any, ids: Sequence[Any]) -> int:
    """Warn on stderr when ``model`` (a model file or run folder whose file records ``train_ids``) was
    trained on some of the scored image ``ids``; returns how many."""

    if not isinstance(model, str | os.PathLike) or not names_model_file(model):
        return 0
    try:
        f = read_model_file(model)
    except DermasegError:
        return 0
    trained = set(f.extra.get("train_ids") or [])
    overlap = sum(1 for i in ids if i is not None and str(i) in trained)
    if overlap:
        print(f"warning: {overlap} of the {len(ids)} images scored were among the {len(trained)} this model "
              f"({f.path}) trained on: those scores are optimistic (score it on images it never saw)",
              file=sys.stderr)
    return overlap


def evaluation_meta(predictor: Any, requested: str, dataset: dict[str, Any],
                    checkpoint: Path | None = None) -> dict[str, Any]:
    """The ``model``, ``dataset`` and ``device`` entries of metrics.json for ``predictor`` (loaded from
    ``requested``, a name or a file) on ``dataset`` (format, root, split, count, ...)."""
    return {
        "model": {"name": str(getattr(predictor, "name", requested)), "requested": str(requested),
                  "checkpoint": str(checkpoint) if checkpoint else None,
                  "auto": getattr(predictor, "auto", None), "tta": getattr(predictor, "tta", None),
                  "postprocess": getattr(predictor, "postprocess", None),
                  "backend": getattr(predictor, "backend", "torch"),
                  "promptable": bool(getattr(predictor, "promptable", False))},
        "dataset": dict(dataset),
        "device": str(getattr(predictor, "device", "cpu")),
    }


def _resolved_split(sel: Any, split: str) -> str:
    """What ``split`` meant here (``auto`` -> test/val/all): the samples' own split when they share one."""
    if split != "auto":
        return split
    have = {getattr(s, "split", None) for s in getattr(sel, "samples", [])}
    return str(have.pop()) if len(have) == 1 and None not in have else "all"


def _one_line(result: EvaluationResult, out: Path) -> str:
    pm = result.summary["per_image_mean"]
    smp = result.sample or {}
    how = ""
    if smp.get("mode") == "stratified":
        how = f" (a sample of {smp['available']}, stratified by diagnosis, seed {smp['seed']})"
    elif smp.get("mode") == "first":
        how = f" (the first of {smp['available']})"
    return (f"{len(result.rows)} images{how}, prompt {result.prompt_mode} [source: {result.prompt_source}]: "
            f"Dice {pm['dice']['mean']:.4f} IoU {pm['iou']['mean']:.4f} "
            f"thresholded Jaccard {pm['thresholded_jaccard']['mean']:.4f} (per-image mean); "
            f"{len(result.rows) / max(result.seconds_total, 1e-9):.2f} img/s whole run (scoring included), "
            f"{len(result.rows) / max(result.seconds_model, 1e-9):.2f} img/s of model time; "
            f"backend {result.backend} -> {out}")
