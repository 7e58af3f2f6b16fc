"""``dermaseg segment``: images, folders and datasets in; masks, probability maps, overlays and a table out.

For each input image (names: :mod:`dermaseg.data.inputs`), OUT gets ``<name>_mask.png`` (uint8
0/255, the input's own W×H), ``<name>_prob.png`` (uint8 probability × 255) and ``<name>_overlay.png`` or
``.jpg`` (the image with the lesion outline in yellow and the prompt drawn: box in cyan, points green), as
``save`` chooses, and OUT/results.csv one row per image (:mod:`dermaseg.inference.segment_results`).
Overlays are JPEG (quality 90) for images above :data:`JPEG_ABOVE_PIXELS` pixels with ``overlay_format
"auto"``, else PNG; ``"png"`` / ``"jpg"`` force one.

Prompts: ``box``/``point`` (input pixels, applied to every image), or ``prompts_csv`` with columns ``image``
(file name or stem), ``x0,y0,x1,y1`` and ``px,py`` (either group may be empty), or ``prompt="box-from-model"``
(the box of the bundled automatic model's mask: :mod:`dermaseg.inference.model_box`). An image with no prompt
is segmented automatically (a CNN's mask, CNN+SAM, or a SAM-family model's own no-prompt output, labelled as
such, with a warning naming the fix).

Everything that can be checked before the first write is checked first (options, inputs, that OUT never
writes among the inputs, prompts against every image's size from its header, the model), so a usage error
writes nothing. Then :func:`_run`, the driver, skips the images already done (``skip_existing``: outputs and
row there, so a killed run resumes) and hands the rest to an executor: here, one after another, or
(``executor="ray"``) Ray Data actors (:mod:`dermaseg.inference.segment_ray`). Either calls
:func:`segment_one` per image (read, predict, write, row: :mod:`dermaseg.inference.segment_image`); an image
that fails (unreadable, 1×1...) is named, counted and skipped, never its batch. The driver alone writes the
journal, results.csv and the summary.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dermaseg.data.inputs import SegmentJob, check_out_folder, collect_jobs, image_size
from dermaseg.data.prompt_input import parse_box, parse_point, read_prompts_csv
from dermaseg.data.prompts import Prompt, user_prompt
from dermaseg.dicom.read import is_dicom
from dermaseg.errors import DermasegError
from dermaseg.inference.model_box import BOX_MODEL
from dermaseg.inference.predictor import load_predictor, model_version
from dermaseg.inference.segment_image import (
    JPEG_ABOVE_PIXELS,
    OVERLAY_FORMATS,
    SAVE_CHOICES,
    SAVE_KINDS,
    SegmentOptions,
    failure_message,
    output_paths,
    segment_one,
)
from dermaseg.inference.segment_pipeline import PipelineStats, ThreadSplit, segment_pipelined, thread_split
from dermaseg.inference.segment_ray import PredictorSpec, segment_on_ray
from dermaseg.inference.segment_results import JOURNAL, RESULT_COLUMNS, Journal, read_rows, write_results
from dermaseg.measure import check_pixel_size
from dermaseg.models.registry import names_model_file, require_trained
from dermaseg.ray_cluster import EXECUTORS, check_executor

__all__ = ["segment_files", "segment_one", "SegmentOptions", "SegmentSummary", "output_paths", "RESULT_COLUMNS",
           "SAVE_KINDS", "OVERLAY_FORMATS", "JPEG_ABOVE_PIXELS", "PROMPT_CHOICES", "EXECUTORS", "ThreadSplit",
           "thread_split"]

#: ``prompt=`` values (besides None: the prompts of box/point/prompts_csv, or none)
PROMPT_CHOICES = ("box-from-model",)
#: where the images run: one after another in this process, or Ray Data actors on a Ray cluster


@dataclass
class SegmentSummary:
    """What a :func:`segment_files` run did: ``images`` inputs; ``segmented`` now, ``skipped`` (already done),
    ``failed`` (their messages), ``flags`` count per flag and ``flagged`` images, ``seconds`` wall time,
    ``out`` the folder."""

    out: Path
    images: int = 0
    segmented: int = 0
    skipped: int = 0
    failed: list[str] = field(default_factory=list)
    flagged: int = 0
    flags: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    #: seconds spent in the model (None when the executor does not say: Ray)
    model_seconds: float | None = None
    #: where the networks ran: torch, onnx or onnx-int8
    backend: str = "torch"

    def line(self) -> str:
        """The end summary ``dermaseg segment`` prints: counts, then the whole command's rate (wall time,
        as the progress bar) and the model's time and share of it, and the backend."""
        flags = ", ".join(f"{n} {f}" for f, n in sorted(self.flags.items()))
        speed = ""
        if self.segmented:
            speed = f", {self.segmented / max(self.seconds, 1e-9):.2f} images/s whole command"
            if self.model_seconds:
                speed += (f" (model time {self.model_seconds:.1f} s, {100 * self.model_seconds / max(self.seconds, 1e-9):.0f} %"
                          f" of the run: {self.segmented / self.model_seconds:.2f} images/s of model time)")
        return (f"{self.images} images: {self.segmented} segmented, {self.skipped} skipped (already done), "
                f"{len(self.failed)} failed, {self.flagged} flagged{f' ({flags})' if flags else ''}; "
                f"{self.seconds:.1f} s{speed}; backend {self.backend} -> {self.out}/ (results.csv)")


def _parse_save(save: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    kinds = [k.strip().lower() for k in (save.split(",") if isinstance(save, str) else save) if k.strip()]
    bad = [k for k in kinds if k not in SAVE_CHOICES]
    if bad or not kinds:
        raise DermasegError(f"--save: expected a comma-separated subset of {','.join(SAVE_CHOICES)}, got "
                            f"'{save if isinstance(save, str) else ','.join(save)}'")
    return tuple(k for k in SAVE_CHOICES if k in kinds)


def _warn(msg: str, bar: Any = None) -> None:
    (bar.write if bar is not None else print)(f"warning: {msg}", file=sys.stderr)


def _names(paths: list[str], n: int = 5) -> str:
    return ", ".join(paths[:n]) + (f" and {len(paths) - n} more" if len(paths) > n else "")


def _check_prompts(jobs: list[SegmentJob], prompts: dict[SegmentJob, Prompt | None], where: dict[SegmentJob, str]
                   ) -> None:
    """Check every prompt against its image's size (from the header) before anything is written."""
    for job in jobs:
        p = prompts[job]
        if p is None:
            continue
        size = image_size(job.image)
        if size is None:  # unreadable: the image fails on its own when segmented
            continue
        try:
            p.for_image(size)
        except DermasegError as e:
            raise DermasegError(f"{where[job]}: {e} ({job.image})") from e


def _model_label(model: Any, predictor: Any) -> str:
    if isinstance(model, str) and names_model_file(model):
        return f"{predictor.name} ({Path(model).name})"
    return str(model) if isinstance(model, str) else predictor.name


def segment_files(inputs, out, model: Any = "default", checkpoint=None, box: str | None = None,
                  point: str | None = None, prompts_csv=None, prompt: str | None = None, auto: str | None = None,
                  tta: bool | None = None, postprocess: bool = True, device: str | None = None,
                  recursive: bool = False, skip_existing: bool = False,
                  save: str | tuple[str, ...] = SAVE_KINDS, overlay_format: str = "auto",
                  batch_size: int | None = None, progress: bool | None = None, echo: bool = True,
                  pixel_size: float | None = None, measure_masks: bool = False, backend: str = "torch",
                  executor: str = "local", address: str | None = None, cpus_per_run: int = 1,
                  workers: int | None = None, pipeline: bool = True,
                  threads: ThreadSplit | None = None) -> SegmentSummary:
    """Segment every image behind ``inputs`` into ``out`` (module docstring) and return what happened; the
    end summary is printed unless ``echo`` is False. ``model``: a registry name, a saved model file or a
    model instance (a name needing training is refused). Locally the images run through a pipeline
    (:mod:`dermaseg.inference.segment_pipeline`: decode threads, the model, post-processing and writing
    threads; ``threads`` a :class:`ThreadSplit`, default :func:`thread_split` of this machine's cores);
    ``pipeline=False`` runs them one after another (the same files and rows). ``batch_size`` images per
    CNN call (default 1; above 1 torch's probabilities may differ in the last float bits). ``measure_masks`` (or a
    ``pixel_size`` in mm per pixel) adds the lesion measurements of each mask to results.csv, the columns
    of ``dermaseg measure``. ``backend``: where the networks run, ``"torch"``, ``"onnx"`` or ``"onnx-int8"``
    (:class:`~dermaseg.inference.predictor.Predictor`). ``executor="ray"`` segments the images still to do
    on a Ray cluster (``address``; default a local one), ``workers`` actors (default: as many as fit) of
    ``cpus_per_run`` CPUs or one GPU each (:mod:`dermaseg.inference.segment_ray`); the files, results.csv
    and the summary are the local run's."""
    from tqdm import tqdm

    pixel_size = check_pixel_size(pixel_size, "--pixel-size")
    check_executor(executor, ("data",), cpus_per_run, workers)  # before any file is made

    save_kinds = _parse_save(save)
    if overlay_format not in OVERLAY_FORMATS:
        raise DermasegError(f"--overlay-format: choose one of {', '.join(OVERLAY_FORMATS)}, got '{overlay_format}'")
    if prompt is not None and prompt not in PROMPT_CHOICES:
        raise DermasegError(f"--prompt: choose {', '.join(PROMPT_CHOICES)} (or give --box/--point/--prompts), "
                            f"got '{prompt}'")
    given = [o for o, v in (("--box", box), ("--point", point), ("--prompts", prompts_csv)) if v is not None]
    if prompt is not None and given:
        raise DermasegError(f"--prompt {prompt} makes the box itself: drop {', '.join(given)}")
    if prompts_csv is not None and (box is not None or point is not None):
        raise DermasegError("use either --prompts CSV or --box/--point, not both")
    common = None
    if box is not None or point is not None:
        common = user_prompt(box=parse_box(box) if box is not None else None,
                             point=parse_point(point) if point is not None else None)
    lines: dict[str, int] = {}
    table = read_prompts_csv(prompts_csv, lines) if prompts_csv is not None else {}
    jobs = collect_jobs(list(inputs), recursive=recursive)
    out = Path(out)
    check_out_folder(out, jobs, list(inputs), recursive)

    prompts: dict[SegmentJob, Prompt | None] = {}
    where: dict[SegmentJob, str] = {}
    no_row: list[str] = []
    for j in jobs:
        key = j.image.name if j.image.name in table else j.image.stem
        prompts[j] = table.get(key, common)
        where[j] = f"{prompts_csv} line {lines[key]}" if key in table else (
            "--box/--point" if box is not None and point is not None else "--box" if box is not None else "--point")
        if table and key not in table:
            no_row.append(j.image.name)
    if table and len(no_row) == len(jobs):
        raise DermasegError(f"{prompts_csv}: names none of the {len(jobs)} input images (first: {jobs[0].image.name}); "
                            "its 'image' column must hold file names (a.png) or stems (a)")
    _check_prompts(jobs, prompts, where)

    require_trained(model)  # a random decoder or an un-fine-tuned SAM: refused, naming the fix
    split = threads or thread_split(batch=batch_size or 1)
    predictor = load_predictor(model, checkpoint=checkpoint, device=device, auto=auto, tta=tta,
                               postprocess=postprocess, backend=backend,
                               threads=split.model if executor == "local" else None)
    options = SegmentOptions(out=out, model_name=_model_label(model, predictor), save=save_kinds,
                             overlay_format=overlay_format, measure=measure_masks or pixel_size is not None,
                             pixel_size=pixel_size, model_version=model_version(predictor))
    if "dicom-seg" in save_kinds:
        plain = [j.image.name for j in jobs if not is_dicom(j.image)]
        if plain:
            _warn(f"--save dicom-seg: {len(plain)} of {len(jobs)} inputs are not DICOM ({_names(plain, 3)}); they "
                  "get no DICOM SEG")
    if no_row:
        _warn(f"{prompts_csv}: no row for {len(no_row)} of {len(jobs)} images ({_names(no_row)}); "
              "they are segmented without a prompt")
    box_model = None
    if not predictor.promptable and (common is not None or table or prompt is not None):
        _warn(f"model '{options.model_name}' takes no prompts; segmenting automatically")
    elif predictor.promptable and prompt == "box-from-model" and executor == "local":
        box_model = load_predictor(BOX_MODEL, device=str(predictor.device), backend=backend)
    elif predictor.promptable:
        if predictor.model.config.get("trained_prompts") == "box" and any(
                p is not None and p.points for p in prompts.values()):
            _warn(f"'{options.model_name}' was trained with box prompts only: a point alone gives an empty mask, "
                  "and with a box a comb-like fringe along the mask's edge (upstream LiteMedSAM does the same); "
                  "give a --box without --point")
        boxless = [j.image.name for j in jobs if prompts[j] is None or prompts[j].box is None]
        if boxless:
            _warn(f"'{options.model_name}' is a SAM-family model and {len(boxless)} of {len(jobs)} images have no "
                  f"box ({_names(boxless, 3)}): without a box its mask is often empty or the whole image; give "
                  "--box x0,y0,x1,y1 (or a --prompts CSV with boxes), or --prompt box-from-model to use the "
                  "bundled automatic model's box")

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DermasegError(f"--out {out}: cannot create the folder ({e.strerror or e})") from e
    if executor == "ray":
        spec = PredictorSpec(model, checkpoint=checkpoint, device=device, auto=auto, tta=tta,
                             postprocess=postprocess, backend=backend,
                             box_from_model=predictor.promptable and prompt == "box-from-model")

        def execute(todo: list[SegmentJob], say: Callable[[str], None]):
            return segment_on_ray(spec, todo, [prompts[j] for j in todo], options, address=address,
                                  cpus_per_run=cpus_per_run, workers=workers, echo=say if echo else None)
    elif pipeline:
        def execute(todo: list[SegmentJob], say: Callable[[str], None]):
            return segment_pipelined(predictor, todo, prompts, options, box_model, split, stats)
    else:
        def execute(todo: list[SegmentJob], say: Callable[[str], None]):
            return _segment_here(predictor, todo, prompts, options, box_model)
    stats = PipelineStats()
    summary = _run(jobs, options, execute, skip_existing, progress, tqdm)
    summary.backend = getattr(predictor, "backend", backend)
    summary.model_seconds = stats.model_seconds if executor == "local" and pipeline else None
    if echo:
        print(summary.line())
        if summary.failed:
            print(f"{len(summary.failed)} of {len(jobs)} images failed (listed above)", file=sys.stderr)
    return summary


def _segment_here(predictor, todo: list[SegmentJob], prompts: dict[SegmentJob, Prompt | None],
                  options: SegmentOptions, box_model) -> Iterator[tuple[SegmentJob, dict | None, str]]:
    """The local executor: each image in turn in this process, ``(job, row, "")`` or ``(job, None, error)``."""
    for job in todo:
        try:
            yield job, segment_one(predictor, job, prompts[job], options, box_model), ""
        except Exception as e:  # one bad image fails only itself, named
            yield job, None, failure_message(job, e)


def _run(jobs: list[SegmentJob], options: SegmentOptions, execute: Callable, skip_existing: bool, progress,
         tqdm) -> SegmentSummary:
    """The driver of either executor: skip what is done (``skip_existing``), ``execute(todo, say)`` the rest
    (an iterator of ``(job, row or None, error)`` in any order; ``say`` prints a line above the progress bar),
    journal each row as it comes, then write results.csv (all images, rows of earlier runs kept); returns the
    summary (printed by the caller)."""
    out = options.out
    old: dict[str, dict[str, str]] = {}
    if skip_existing:
        for src in (out / "results.csv", out / JOURNAL):
            old.update({r["output"]: r for r in read_rows(src)})
    journal = Journal(out, fresh=not skip_existing, columns=options.columns)
    summary = SegmentSummary(out=out, images=len(jobs))
    rows: dict[str, dict[str, object]] = {}
    failed: dict[str, str] = {}
    t_start = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="segment (whole command)", unit="img", file=sys.stderr,
               disable=(not sys.stderr.isatty()) if progress is None else not progress)
    try:
        todo = []
        for job in jobs:
            done = old.get(job.output)
            if done is not None and all(p.is_file() for p in output_paths(options, job, image_size(job.image)).values()):
                rows[job.output] = done
                summary.skipped += 1
                bar.update(1)
            else:
                todo.append(job)
        for job, row, error in execute(todo, lambda line: bar.write(line, file=sys.stderr)):
            if row is None:
                failed[job.output] = error
                bar.write(f"error: {error}", file=sys.stderr)
            else:
                journal.add(row)
                rows[job.output] = row
                summary.segmented += 1
            bar.update(1)
    finally:
        bar.close()
        journal.close(remove=False)
    summary.failed = [failed[j.output] for j in jobs if j.output in failed]
    table = [rows[j.output] for j in jobs if j.output in rows]
    table += [r for k, r in old.items() if k not in rows and k not in {j.output for j in jobs}]
    write_results(out / "results.csv", table, options.columns)
    journal.close(remove=True)
    for r in (rows[j.output] for j in jobs if j.output in rows):
        flags = [f for f in str(r.get("flag", "")).split(";") if f]
        summary.flagged += bool(flags)
        summary.flags.update(flags)
    summary.seconds = time.perf_counter() - t_start
    return summary
