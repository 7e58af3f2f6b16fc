"""``dermaseg measure``: measure masks from a folder (matched to images by stem) or a dataset's own truth
masks, and write one CSV (``MEASURE_COLUMNS``, then ``EXTRA_COLUMNS``; see :mod:`dermaseg.measure`).

Every input is checked while it is read and the CSV is written only at the end, atomically
(:func:`dermaseg.io.write_text`): any bad input (an image without a mask, a mask of another size, an
unreadable file, a pixel size that is not a positive finite number) raises :class:`DermasegError` naming
the file or option, and leaves no CSV behind. Without ``--pixel-size``, a DICOM image's own pixel spacing
(:func:`dermaseg.io.image_pixel_size`) fills its mm columns; ``--pixel-size`` overrides it.

The images behind IMAGES... are collected exactly as ``dermaseg segment`` collects its inputs
(:func:`dermaseg.data.inputs.collect_jobs`: files, plain folders, dataset folders, ``--recursive``),
so each image has the output name ``NAME`` that segment gave it (``sub/dir/stem``, ``stem_2`` for a
second image of the same name). Mask matching for ``--masks DIR``: the first of ``DIR/NAME_mask.png`` (what
``dermaseg segment --out DIR`` wrote), ``DIR/NAME_segmentation.png`` (ISIC), ``DIR/NAME.png``, then the same
three by the image's own stem directly in ``DIR`` (a flat folder of masks), never the image itself. In a
plain folder, images named like masks (``*_segmentation``) are skipped as well as segment's outputs.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermaseg.data.inputs import collect_jobs
from dermaseg.data.readers import load_dataset
from dermaseg.errors import DermasegError
from dermaseg.io import image_pixel_size, read_image, read_mask, write_text
from dermaseg.measure import CSV_COLUMNS, check_pixel_size, measure, record_to_row

__all__ = ["MASK_PATTERNS", "find_mask", "collect_images", "measure_files", "measure_dataset", "write_csv"]

MASK_PATTERNS = ("{stem}_mask.png", "{stem}_segmentation.png", "{stem}.png")
#: in a plain folder, files named like ground-truth masks are not images to measure (segment's own
#: outputs, ``*_mask``/``*_prob``/``*_overlay``, are skipped by collect_jobs already)
_MASK_STEMS = ("_segmentation", "_Segmentation")


def collect_images(inputs: Sequence[str | os.PathLike], recursive: bool = False) -> list[tuple[Path, str]]:
    """``(image, NAME)`` for the images behind ``inputs``, as ``dermaseg segment`` collects and names them
    (module docstring). A missing path or a folder without images raises :class:`DermasegError`."""
    direct = {Path(i).resolve() for i in inputs if Path(i).is_file()}
    jobs = collect_jobs(list(inputs), recursive=recursive)
    found = [(j.image, j.output) for j in jobs
             if j.image.resolve() in direct or not j.image.stem.endswith(_MASK_STEMS)]
    if not found:
        raise DermasegError(f"{', '.join(map(str, inputs))}: no images to measure (only masks)")
    return found


def find_mask(image: Path, masks_dir: Path, name: str | None = None) -> Path:
    """The mask of ``image`` (segment output name ``name``) in ``masks_dir`` (module docstring), or
    DermasegError naming the image and the files looked for."""
    names = [name or image.stem]
    if image.stem not in names:
        names.append(image.stem)
    tried = []
    for n in names:
        for pattern in MASK_PATTERNS:
            cand = masks_dir / pattern.format(stem=n)
            tried.append(cand.relative_to(masks_dir).as_posix())
            if cand.is_file() and not (image.exists() and cand.resolve() == image.resolve()):
                return cand
    raise DermasegError(f"{image}: no mask in {masks_dir} (looked for {', '.join(tried)})")


def _measure_pair(image_path: Path, mask_path: Path, pixel_size: float | None) -> dict[str, Any]:
    rgb = read_image(image_path)
    mask = read_mask(mask_path)
    if mask.shape != rgb.shape[:2]:
        raise DermasegError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but image {image_path} "
                            f"is {rgb.shape[1]}x{rgb.shape[0]}")
    if pixel_size is None:  # a DICOM image's own pixel spacing, when it states one (never guessed)
        pixel_size = image_pixel_size(image_path)
    return measure(mask, rgb, pixel_size=pixel_size)


def write_csv(path: str | os.PathLike, rows: list[tuple[str, dict[str, Any]]]) -> Path:
    """Write ``(image, record)`` pairs as the measurement CSV, atomically. Returns the path."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for name, rec in rows:
        writer.writerow(record_to_row(rec, name))
    write_text(path, buf.getvalue())
    return Path(path)


def _check_out(out: str | os.PathLike) -> Path:
    p = Path(out)
    if p.is_dir():
        raise DermasegError(f"--out {p}: is a folder; give the CSV file to write")
    return p


def _progress(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="measure", unit="img", file=sys.stderr, disable=not sys.stderr.isatty())


def measure_files(images: Sequence[str | os.PathLike], masks: str | os.PathLike, out: str | os.PathLike,
                  pixel_size: float | None = None, recursive: bool = False) -> Path:
    """Measure each image's mask from ``masks`` (matched by segment's output name, then by stem: module
    docstring) with the image for colour, and write the CSV ``out`` (``image`` = the image's path). Returns
    ``out``."""
    ps = check_pixel_size(pixel_size, "--pixel-size")
    out_p = _check_out(out)
    masks_dir = Path(masks)
    if not masks_dir.is_dir():
        raise DermasegError(f"--masks {masks_dir}: no such folder")
    found = collect_images(images, recursive=recursive)
    pairs = [(p, find_mask(p, masks_dir, name)) for p, name in found]  # all found before any is measured
    rows = []
    with _progress(len(pairs)) as bar:
        for img, mask in pairs:
            rows.append((str(img), _measure_pair(img, mask, ps)))
            bar.update(1)
    return write_csv(out_p, rows)


def measure_dataset(data: str | os.PathLike, out: str | os.PathLike, pixel_size: float | None = None,
                    format: str = "auto", split: str = "all", on_error: str = "skip") -> Path:
    """Measure the truth masks of a dataset (any layout :func:`~dermaseg.data.readers.load_dataset`
    reads) with their images, and write the CSV ``out`` (``image`` = the sample id). ``on_error``: an
    image or mask that cannot be read is reported on stderr and left out (``"skip"``) or stops (``"stop"``)."""
    if on_error not in ("skip", "stop"):
        raise DermasegError(f"--on-error {on_error}: expected skip or stop")
    ps = check_pixel_size(pixel_size, "--pixel-size")
    out_p = _check_out(out)
    ds = load_dataset(data, format=format).select(split)
    if not ds.samples:
        raise DermasegError(f"{data}: no images in this dataset")
    for s in ds.samples:
        if s.mask is None:
            raise DermasegError(f"{s.image}: no mask in the dataset")
    rows = []
    with _progress(len(ds.samples)) as bar:
        for s in ds.samples:
            try:
                rows.append((s.id, _measure_pair(s.image, s.mask, ps)))
            except DermasegError as e:
                if on_error == "stop":
                    raise
                import sys

                print(f"warning: skipped: {e}", file=sys.stderr)
            bar.update(1)
    if not rows:
        raise DermasegError(f"{data}: no image could be measured (each was skipped)")
    return write_csv(out_p, rows)
