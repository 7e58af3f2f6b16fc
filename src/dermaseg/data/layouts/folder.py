"""Folder pairs: ``images/`` and ``masks/`` matched by stem, with an optional ``metadata.csv`` (image id,
lesion id, diagnosis, split) so that users' own data gets lesion-grouped splits and per-diagnosis tables.

The metadata table (``metadata.csv``; ``labels.csv`` is read when there is no ``metadata.csv``):

- one header row, comma-, semicolon- or tab-separated, UTF-8 (an Excel byte-order mark is fine) or UTF-16
  with its BOM, CRLF or LF line ends; column names are matched case-insensitively with spaces or dashes
  read as ``_`` (:data:`ID_COLUMNS`, :data:`LESION_COLUMNS`, :data:`DIAGNOSIS_COLUMNS`,
  :data:`SPLIT_COLUMNS`, first match wins);
- the image id is the image's file name or its stem (``case_001.jpg`` or ``case_001``);
- an empty lesion id groups the image alone; an empty diagnosis is no label;
- split values ``train``/``training``, ``val``/``valid``/``validation``, ``test``.

Problems are recorded, never raised, for single rows: more fields than the header, no image id, a split
value not in the list (``bad_table_row``), an id listed twice (``duplicate_id``), a row whose image is not
in ``images/`` (``metadata_without_image``) and, when the table has a diagnosis column, an image it does
not list (``image_without_label``). A table without an image id column, or with none of the lesion,
diagnosis and split columns, raises :class:`~dermaseg.errors.DataError` (it cannot be used at all).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, normalise_label
from dermaseg.data.layouts.common import (
    child,
    find_column,
    finish,
    index_by,
    list_images,
    pair_samples,
    read_table,
)
from dermaseg.errors import DataError
from dermaseg.io import IMAGE_EXTENSIONS

__all__ = ["read_folder", "detect", "MASK_SUFFIXES", "METADATA_FILES", "ID_COLUMNS", "LESION_COLUMNS",
           "DIAGNOSIS_COLUMNS", "SPLIT_COLUMNS"]


#: suffixes a mask's stem may add to its image's stem
MASK_SUFFIXES = ("_segmentation", "_mask", "_lesion", "-mask", "_seg")
#: the metadata table's file names, in order of preference
METADATA_FILES = ("metadata.csv", "labels.csv")
#: accepted spellings (after :func:`~dermaseg.data.layouts.common.norm_header`) of each column
ID_COLUMNS = ("image_id", "id", "image", "image_name", "imageid", "isic_id", "file_name", "filename", "file",
              "name")
LESION_COLUMNS = ("lesion_id", "lesion", "lesionid", "group", "group_id", "patient_id", "patient")
DIAGNOSIS_COLUMNS = ("dx", "diagnosis", "label", "class", "diagnosis_name", "clinical_diagnosis")
SPLIT_COLUMNS = ("split", "subset")
_SPLIT_VALUES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "test": "test", "testing": "test"}


def _mask_key(p: Path) -> str:
    stem = p.stem
    for suf in MASK_SUFFIXES:
        if stem.lower().endswith(suf):
            return stem[: -len(suf)]
    return stem


def _image_id(value: str) -> str:
    """``case_001.jpg``, ``images/case_001.jpg`` or ``case_001`` -> ``case_001``."""
    name = Path(value.replace("\\", "/")).name
    return Path(name).stem if Path(name).suffix.lower() in IMAGE_EXTENSIONS else name


def read_metadata(path: Path, images: dict[str, Path], problems: list[Problem]
                  ) -> tuple[dict[str, str | None] | None, dict[str, str], dict[str, str]]:
    """(labels or None when the table has no diagnosis column, groups, splits) of a folder's metadata table
    (module docstring); row problems go to ``problems``."""
    header, rows = read_table(path, problems)
    idc = find_column(header, ID_COLUMNS)
    if idc is None:
        raise DataError(f"{path}: no image id column (expected one of image_id, id, image, file_name; "
                        f"found: {', '.join(header) or 'no header'})")
    lc, gc, sc = (find_column(header, cols) for cols in (DIAGNOSIS_COLUMNS, LESION_COLUMNS, SPLIT_COLUMNS))
    if lc is None and gc is None and sc is None:
        raise DataError(f"{path}: no lesion id, diagnosis or split column (expected e.g. lesion_id, dx, split; "
                        f"found: {', '.join(header)})")
    labels: dict[str, str | None] | None = {} if lc else None
    groups: dict[str, str] = {}
    splits: dict[str, str] = {}
    seen: dict[str, int] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        if not row[idc]:
            problems.append(Problem("bad_table_row", where, f"no image id in column {idc}"))
            continue
        sid = _image_id(row[idc])
        if sid in seen:
            problems.append(Problem("duplicate_id", sid, f"{path.name} lists it on lines {seen[sid]} and {line}"))
            continue
        seen[sid] = line
        if sid not in images:
            problems.append(Problem("metadata_without_image", sid, f"row of {path.name} (line {line})"))
        if labels is not None:
            labels[sid] = normalise_label(row[lc])
        if gc and row[gc]:
            groups[sid] = row[gc]
        if sc and row[sc]:
            split = _SPLIT_VALUES.get(row[sc].lower())
            if split is None:
                problems.append(Problem("bad_table_row", where, f"split {row[sc]!r} is not train, val or test"))
            else:
                splits[sid] = split
    return labels, groups, splits


def read_folder(root: Path) -> Dataset:
    """Folder pairs: ``images/`` and ``masks/`` matched by stem; a mask stem may add ``_mask``,
    ``_segmentation``, ``_lesion`` (or ``-mask``, ``_seg``). Optional ``metadata.csv`` (or ``labels.csv``)
    with the image id, lesion id, diagnosis and split (module docstring)."""
    img_dir, mask_dir = child(root, "images"), child(root, "masks")
    if img_dir is None or not img_dir.is_dir():
        raise DataError(f"{root}: not a folder-pairs dataset (no images/ folder)")
    problems: list[Problem] = []
    images = index_by(list_images(img_dir), lambda p: p.stem, problems)
    masks: dict[str, Path] = {}
    if mask_dir is not None and mask_dir.is_dir():
        # a mask named exactly like an image wins over a suffix match
        masks = index_by(list_images(mask_dir), lambda p: p.stem if p.stem in images else _mask_key(p), problems)
    labels, groups, splits = None, {}, {}
    sources: dict[str, str] = {}
    table = next((t for t in (child(root, name) for name in METADATA_FILES) if t is not None and t.is_file()), None)
    if table is not None:
        labels, groups, splits = read_metadata(table, images, problems)
        sources["metadata"] = str(table)
    samples = pair_samples(root, "folder", images, masks, problems, None, labels, groups)
    if splits:
        samples = [replace(s, split=splits.get(s.id)) for s in samples]
    return finish(root, "folder", samples, problems, sources=sources)


def detect(root: Path) -> str | None:
    """``"folder"`` when ``root`` has an ``images/`` folder."""
    img = child(root, "images")
    return "folder" if img is not None and img.is_dir() else None
