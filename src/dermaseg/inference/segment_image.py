"""One image's whole work for ``dermaseg segment``: :func:`segment_one` reads it, predicts, writes its outputs
atomically and returns its results.csv row. The local loop (:mod:`dermaseg.inference.segment`) and each Ray
worker (:mod:`dermaseg.inference.segment_ray`) call it, so both write the same files.

Outputs (``options.save``): ``<name>_mask.png`` (uint8 0/255, the input's own W×H), ``<name>_prob.png``
(uint8 probability × 255) and ``<name>_overlay.png`` or ``.jpg`` (the image with the lesion outline in yellow
and the prompt drawn: box in cyan, points green); with ``dicom-seg`` (not a default), for DICOM inputs only,
``<name>_seg.dcm``, a DICOM Segmentation referencing the input (:mod:`dermaseg.dicom.seg`). Overlays are JPEG (quality 90) for images above
:data:`JPEG_ABOVE_PIXELS` pixels with ``overlay_format "auto"``, else PNG; ``"png"`` / ``"jpg"`` force one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.data.inputs import SegmentJob
from dermaseg.data.prompts import Prompt
from dermaseg.dicom.read import is_dicom, read_dataset
from dermaseg.dicom.seg import SEG_SUFFIX, seg_bytes
from dermaseg.errors import DermasegError
from dermaseg.inference.model_box import BOX_MODEL, model_box_prompt
from dermaseg.inference.segment_results import RESULT_COLUMNS
from dermaseg.io import atomic_path, image_pixel_size, read_image, write_png
from dermaseg.measure import MEASURE_KEYS, measure, record_to_row
from dermaseg.overlays import draw_overlay

#: results.csv's measurement columns: the contract's, then the expert-calibrated asymmetry and the
#: version of the rules that made them (``measure_version``)
SEGMENT_MEASURE_KEYS = (*MEASURE_KEYS, "asymmetry_score", "asymmetry_grade", "measure_version")

__all__ = ["SegmentOptions", "segment_one", "read_input", "predict_image", "write_outputs", "failure_message",
           "output_paths", "SAVE_KINDS", "SAVE_CHOICES", "OVERLAY_FORMATS", "JPEG_ABOVE_PIXELS", "PNG_LEVEL"]

#: what ``--save`` writes by default; SAVE_CHOICES adds ``dicom-seg`` (DICOM inputs only)
SAVE_KINDS = ("mask", "prob", "overlay")
SAVE_CHOICES = (*SAVE_KINDS, "dicom-seg")
OVERLAY_FORMATS = ("auto", "png", "jpg")
#: with ``overlay_format="auto"``, overlays of images above this many pixels are JPEG (a 12-megapixel PNG
#: overlay is ~10 MB; its JPEG ~1-2 MB)
JPEG_ABOVE_PIXELS = 4_000_000


@dataclass(frozen=True)
class SegmentOptions:
    """What :func:`segment_one` writes: into ``out``, the kinds in ``save``, overlays as ``overlay_format``;
    ``model_name`` is results.csv's ``model``; ``box_model_name`` labels a box-from-model prompt."""

    out: Path
    model_name: str
    save: tuple[str, ...] = SAVE_KINDS
    overlay_format: str = "auto"
    box_model_name: str = BOX_MODEL
    #: add the lesion measurements (:mod:`dermaseg.measure`) to each row; mm columns need ``pixel_size``
    measure: bool = False
    pixel_size: float | None = None
    #: the model version a DICOM SEG names (:func:`dermaseg.dicom.seg.model_version`)
    model_version: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        """results.csv's columns: :data:`RESULT_COLUMNS`, then the measurement columns when measuring."""
        return (*RESULT_COLUMNS, *SEGMENT_MEASURE_KEYS) if self.measure else RESULT_COLUMNS


def output_paths(options: SegmentOptions, job: SegmentJob, size: tuple[int, int] | None) -> dict[str, Path]:
    """{kind: path} of the outputs ``options.save`` writes for ``job``; ``size`` (H, W) picks the overlay's
    format under ``"auto"`` (None: PNG)."""
    base = options.out / job.output
    big = size is not None and size[0] * size[1] > JPEG_ABOVE_PIXELS
    ext = "jpg" if options.overlay_format == "jpg" or (options.overlay_format == "auto" and big) else "png"
    names = {"mask": "_mask.png", "prob": "_prob.png", "overlay": f"_overlay.{ext}", "dicom-seg": SEG_SUFFIX}
    return {k: base.with_name(base.name + names[k]) for k in options.save
            if k != "dicom-seg" or is_dicom(job.image)}


def _write_jpeg(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(rgb).save(tmp, format="JPEG", quality=90)


def _seg_bytes(job: SegmentJob, mask: np.ndarray, options: SegmentOptions) -> bytes:
    """The DICOM SEG of ``mask`` over the DICOM input of ``job`` (header re-read, pixels not decoded)."""

    try:
        return seg_bytes(read_dataset(job.image), mask, options.model_name, options.model_version)
    except DermasegError as e:
        raise DermasegError(str(e) if str(job.image) in str(e) else f"{job.image}: {e}") from e


#: zlib level of segment's PNGs: 1 writes the same pixels as the default 6 about 3x faster, for files about
#: 0.3 % (overlay) to 35 % (probability map) larger (measured on ISIC 2017 and PH2 images)
PNG_LEVEL = 1


def read_input(job: SegmentJob) -> np.ndarray:
    """``job``'s image as RGB uint8; a problem raises :class:`DermasegError` naming the file."""
    try:
        return read_image(job.image)
    except DermasegError as e:
        raise DermasegError(str(e) if str(job.image) in str(e) else f"{job.image}: {e}") from e


def predict_image(predictor: Any, job: SegmentJob, rgb: np.ndarray, prompt: Prompt | None,
                  options: SegmentOptions, box_model: Any = None) -> tuple[Any, Prompt | None]:
    """The model's work on one decoded image: the box-from-model prompt when ``box_model`` is given, then
    ``set_image`` + ``predict`` -> (prediction, the prompt used)."""
    try:
        if box_model is not None:
            prompt = model_box_prompt(box_model, rgb, options.box_model_name)
        predictor.set_image(rgb)
        return predictor.predict(prompt if predictor.promptable else None), prompt
    except DermasegError as e:
        raise DermasegError(str(e) if str(job.image) in str(e) else f"{job.image}: {e}") from e


def write_outputs(predictor: Any, job: SegmentJob, rgb: np.ndarray, pred: Any, prompt: Prompt | None,
                  options: SegmentOptions, seconds: float) -> dict[str, object]:
    """Write one image's outputs atomically (``options.save``) and return its results.csv row; ``seconds``
    is the image's read + model + post-processing time. A DICOM SEG is built before any file is written."""
    paths = output_paths(options, job, rgb.shape[:2])
    seg = _seg_bytes(job, pred.mask, options) if "dicom-seg" in paths else b""  # fails before any write
    for kind, path in paths.items():
        if kind == "mask":
            write_png(path, pred.mask, PNG_LEVEL)
        elif kind == "dicom-seg":
            with atomic_path(path) as tmp:
                tmp.write_bytes(seg)
        elif kind == "prob":
            write_png(path, np.clip(pred.prob * 255.0 + 0.5, 0, 255).astype(np.uint8), PNG_LEVEL)
        else:
            overlay = draw_overlay(rgb, pred.mask, pred.box, pred.points)
            _write_jpeg(path, overlay) if path.suffix == ".jpg" else write_png(path, overlay, PNG_LEVEL)
    shown = prompt if prompt is not None and predictor.promptable else Prompt()
    row: dict[str, object] = {
        "image": str(job.image), "output": job.output, "model": options.model_name,
        "prompt": shown.describe(source=False), "source": pred.source, "lesion_area_px": int(pred.mask.sum()),
        "predicted_quality": "" if pred.quality is None else f"{pred.quality:.4f}",
        "flag": ";".join(pred.flags), "seconds": f"{seconds:.4f}"}
    if options.measure:  # the same columns as `dermaseg measure` (mm empty without a pixel size)
        ps = options.pixel_size if options.pixel_size is not None else image_pixel_size(job.image)  # DICOM's own
        cells = record_to_row(measure(pred.mask, rgb, ps), str(job.image))
        row.update({k: cells[k] for k in SEGMENT_MEASURE_KEYS})
    return row


def segment_one(predictor: Any, job: SegmentJob, prompt: Prompt | None, options: SegmentOptions,
                box_model: Any = None) -> dict[str, object]:
    """Segment one image and write its outputs: read it (:func:`read_input`), predict
    (:func:`predict_image`), write each output atomically (:func:`write_outputs`). Returns its results.csv
    row; ``seconds`` is this image's read + model + post-processing time. A problem with the image raises
    :class:`DermasegError` naming it. The pipelined local run (:mod:`dermaseg.inference.segment_pipeline`)
    runs the same three steps in overlapping threads."""
    t0 = time.perf_counter()
    rgb = read_input(job)
    pred, prompt = predict_image(predictor, job, rgb, prompt, options, box_model)
    return write_outputs(predictor, job, rgb, pred, prompt, options, time.perf_counter() - t0)


def failure_message(job: SegmentJob, error: BaseException) -> str:
    """The one line naming ``job``'s image that a failed :func:`segment_one` is reported with."""
    if isinstance(error, DermasegError):
        return str(error)
    return f"{job.image}: {type(error).__name__}: {error}"
