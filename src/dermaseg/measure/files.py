"""``dermaseg measure``: measure masks from a folder (matched to images by stem) or a dataset's own truth
masks, and write one CSV (``MEASURE_COLUMNS``, then ``EXTRA_COLUMNS``; see :mod:`dermaseg.measure`).

Every input is checked while it is read and the CSV is written only at the end, atomically
(:func:`dermaseg.io.write_text`): any bad input (an image without a mask, a mask of another size, an
unreadable file, a pixel size that is not a positive finite number) raises :class:`DermasegError` naming
the file or option, and leaves no CSV behind.

Mask matching for ``--masks DIR``: the image ``<stem>.<ext>`` takes the first of ``DIR/<stem>_mask.png``
(what ``dermaseg segment`` writes), ``DIR/<stem>_segmentation.png`` (ISIC) and ``DIR/<stem>.png``
(never the image itself). Images given twice under the same stem are numbered as ``dermaseg segment``
numbers them (``<stem>_2``, ...).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dermaseg.data.readers import load_dataset
from dermaseg.errors import DermasegError
from dermaseg.io import IMAGE_EXTENSIONS, read_image, read_mask, write_text
from dermaseg.measure import CSV_COLUMNS, check_pixel_size, measure, record_to_row

__all__ = ["MASK_PATTERNS", "find_mask", "collect_images", "measure_files", "measure_dataset", "write_csv"]

MASK_PATTERNS = ("{stem}_mask.png", "{stem}_segmentation.png", "{stem}.png")
#: files named like masks or ``dermaseg segment`` outputs are not images to measure
_NOT_IMAGES = ("_mask", "_prob", "_overlay", "_segmentation", "_Segmentation")


def collect_images(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """Image files as given, plus the image files of each folder (sorted, not recursive; files named
    like masks or segment outputs skipped). A missing path or an empty folder -> DermasegError."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                           and not f.name.startswith(".") and not f.stem.endswith(_NOT_IMAGES))
            if not found:
                raise DermasegError(f"{p}: folder contains no images ({', '.join(IMAGE_EXTENSIONS)})")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DermasegError(f"{p}: no such file or folder")
    if not out:
        raise DermasegError("no input images")
    return out


def find_mask(image: Path, masks_dir: Path, stem: str | None = None) -> Path:
    """The mask of ``image`` in ``masks_dir`` (module docstring), or DermasegError naming the image."""
    stem = stem or image.stem
    tried = []
    for pattern in MASK_PATTERNS:
        cand = masks_dir / pattern.format(stem=stem)
        tried.append(cand.name)
        if cand.is_file() and not (image.exists() and cand.resolve() == image.resolve()):
            return cand
    raise DermasegError(f"{image}: no mask in {masks_dir} (looked for {', '.join(tried)})")


def _unique_stems(paths: list[Path]) -> list[str]:
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        n = seen.get(p.stem, 0) + 1
        seen[p.stem] = n
        stems.append(p.stem if n == 1 else f"{p.stem}_{n}")
    return stems


def _measure_pair(image_path: Path, mask_path: Path, pixel_size: float | None) -> dict[str, Any]:
    rgb = read_image(image_path)
    mask = read_mask(mask_path)
    if mask.shape != rgb.shape[:2]:
        raise DermasegError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but image {image_path} "
                            f"is {rgb.shape[1]}x{rgb.shape[0]}")
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
                  pixel_size: float | None = None) -> Path:
    """Measure each image's mask from ``masks`` (matched by stem) with the image for colour, and write
    the CSV ``out`` (``image`` = the image path as given). Returns ``out``."""
    ps = check_pixel_size(pixel_size, "--pixel-size")
    out_p = _check_out(out)
    masks_dir = Path(masks)
    if not masks_dir.is_dir():
        raise DermasegError(f"--masks {masks_dir}: no such folder")
    paths = collect_images(images)
    stems = _unique_stems(paths)
    pairs = [(p, find_mask(p, masks_dir, s)) for p, s in zip(paths, stems, strict=True)]  # all found first
    rows = []
    with _progress(len(pairs)) as bar:
        for img, mask in pairs:
            rows.append((str(img), _measure_pair(img, mask, ps)))
            bar.update(1)
    return write_csv(out_p, rows)


def measure_dataset(data: str | os.PathLike, out: str | os.PathLike, pixel_size: float | None = None,
                    format: str = "auto", split: str = "all") -> Path:
    """Measure the truth masks of a dataset (any layout :func:`~dermaseg.data.readers.load_dataset`
    reads) with their images, and write the CSV ``out`` (``image`` = the sample id)."""
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
            rows.append((s.id, _measure_pair(s.image, s.mask, ps)))
            bar.update(1)
    return write_csv(out_p, rows)
