"""``dermaseg workspace init``: bring images (and existing annotations and metadata) into a workspace.

- Images: files and folders as ``dermaseg segment`` reads them (:func:`dermaseg.data.inputs.collect_jobs`;
  ``recursive`` walks sub-folders; a dataset folder gives its images, never its masks). Each is hard-linked
  into ``images/`` when the file system allows it, else copied (``copy=True`` always copies); originals are
  only read. An image's id is its stem; a stem already taken by a different file gets ``_2``, ``_3``...; the
  same file given again (same bytes) is skipped, so ``init`` on an existing workspace adds what is new.
- Every image's header is read before anything is written: an unreadable one stops the command naming it.
- ``masks=DIR``: existing annotations matched by stem as folder pairs are (a mask stem may add ``_mask``,
  ``_segmentation``, ``_lesion``...), read by dermaseg's mask rule, checked against the image's size, stored
  in ``masks/`` with ``status`` ``edited`` or ``approved``.
- ``metadata.csv``: ``image_id, lesion_id, diagnosis`` and every other column, from the dataset an input
  folder is (HAM10000's lesion ids, ISIC/PH2 diagnoses) and from ``metadata=CSV`` (any table with an image
  id column); rows and columns already in the workspace's table (a user's own columns) are kept.
"""

from __future__ import annotations

import csv
import filecmp
import io
import os
from pathlib import Path
from typing import Any

from dermaseg.data.inputs import SegmentJob, collect_jobs, image_size
from dermaseg.data.layouts.common import find_column, index_by, list_images, norm_header, read_table
from dermaseg.data.layouts.folder import DIAGNOSIS_COLUMNS, ID_COLUMNS, LESION_COLUMNS, MASK_SUFFIXES
from dermaseg.data.readers import detect_format, load_dataset
from dermaseg.errors import DataError, DermasegError
from dermaseg.io import read_mask, write_text
from dermaseg.measure import check_pixel_size
from dermaseg.workspace.files import copy_durably, write_mask_png
from dermaseg.workspace.layout import DB_FILE, IMAGES_DIR, METADATA_FILE

__all__ = ["check_init_target", "collect_inputs", "add_images", "read_workspace_metadata", "BASE_COLUMNS"]

#: the first columns of a workspace's metadata.csv; any others are the user's and are kept
BASE_COLUMNS = ("image_id", "lesion_id", "diagnosis")


def check_init_target(root: Path) -> None:
    """A workspace may be made in a new folder, an empty one, or an existing workspace (images are added)."""
    if root.exists() and not root.is_dir():
        raise DermasegError(f"{root}: exists and is not a folder")
    if root.is_dir() and not (root / DB_FILE).is_file() and any(root.iterdir()):
        raise DermasegError(f"{root}: folder is not empty and not a workspace; choose a new folder")


def collect_inputs(root: Path, images: list[str | os.PathLike], recursive: bool = False) -> list[SegmentJob]:
    """The images to add (files below ``root`` itself, e.g. its own images/, are left out)."""
    if not images:
        raise DermasegError("workspace init: give --images PATH... (image files or folders)")
    base = root.resolve()
    jobs = [j for j in collect_jobs(list(images), recursive=recursive) if not j.image.resolve().is_relative_to(base)]
    if not jobs:
        raise DermasegError(f"workspace init: no images outside {root} in {', '.join(map(str, images))}")
    return jobs


def _mask_index(masks: Path) -> dict[str, Path]:
    if not masks.is_dir():
        raise DermasegError(f"--masks {masks}: no such folder")
    out: dict[str, Path] = {}
    for p in index_by(list_images(masks), lambda q: q.stem, []).values():
        out.setdefault(p.stem, p)
        for suf in MASK_SUFFIXES:
            if p.stem.lower().endswith(suf):
                out.setdefault(p.stem[: -len(suf)], p)
    return out


def read_workspace_metadata(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a workspace's metadata.csv (empty when it has none)."""
    if not path.is_file():
        return list(BASE_COLUMNS), []
    with open(path, newline="", encoding="utf-8-sig") as f:
        r = csv.DictReader(f)
        rows = [dict(row) for row in r]
        return list(r.fieldnames or BASE_COLUMNS), rows


def _input_metadata(inputs: list[str | os.PathLike], metadata: str | os.PathLike | None) -> dict[str, dict[str, str]]:
    """stem -> {column: value} from dataset inputs and a metadata table."""
    out: dict[str, dict[str, str]] = {}
    for item in inputs:
        p = Path(item)
        if p.is_dir() and detect_format(p) is not None:
            try:
                ds = load_dataset(p)
            except DataError:
                continue
            for s in ds.samples:
                row = {k: str(v) for k, v in (s.meta or {}).items() if v is not None}
                row["lesion_id"] = s.group if s.group != s.id else ""
                row["diagnosis"] = s.label or ""
                out.setdefault(Path(s.image).stem, row)
    if metadata is not None:
        mp = Path(metadata)
        if not mp.is_file():
            raise DermasegError(f"--metadata {mp}: no such file")
        header, rows = read_table(mp)
        idc = find_column(header, ID_COLUMNS)
        if idc is None:
            raise DermasegError(f"--metadata {mp}: no image id column (expected one of image_id, id, image)")
        lc, dc = find_column(header, LESION_COLUMNS), find_column(header, DIAGNOSIS_COLUMNS)
        for _, row in rows:
            key = Path(row[idc].replace("\\", "/")).stem if row[idc] else ""
            if not key:
                continue
            rec = {norm_header(k): v for k, v in row.items() if k not in (idc, lc, dc)}
            if lc:
                rec["lesion_id"] = row[lc]
            if dc:
                rec["diagnosis"] = row[dc]
            out[key] = {**out.get(key, {}), **rec}
    return out


def _write_metadata(root: Path, added: list[tuple[str, str]], found: dict[str, dict[str, str]]) -> None:
    """Append rows for the ``added`` (id, source stem) images to metadata.csv, keeping what is there."""
    path = root / METADATA_FILE
    columns, rows = read_workspace_metadata(path)
    for _, stem in added:
        for k in found.get(stem, {}):
            if k not in columns and k != "image_id":
                columns.append(k)
    for image_id, stem in added:
        rows.append({"image_id": image_id, **found.get(stem, {})})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r.get(c, "") or "" for c in columns})
    write_text(path, buf.getvalue())


def add_images(ws: Any, jobs: list[SegmentJob], pixel_size: float | None = None, masks: str | os.PathLike | None = None,
               status: str = "edited", copy: bool = False, metadata: str | os.PathLike | None = None,
               inputs: list[str | os.PathLike] | None = None, user: str = "local",
               remote: str | None = None) -> dict[str, Any]:
    """Add ``jobs``' images to the open workspace ``ws`` (module docstring). Returns a summary:
    ``added``, ``skipped`` (already there), ``masks`` (imported), ``linked``, ``copied``."""
    if status not in ("edited", "approved"):
        raise DermasegError(f"--status {status}: choose edited or approved")
    ps = check_pixel_size(pixel_size, "--pixel-size")
    mask_index = _mask_index(Path(masks)) if masks is not None else {}
    sizes = {}
    for j in jobs:  # every header first: nothing is written when one image cannot be read
        hw = image_size(j.image)
        if hw is None:
            raise DataError(f"{j.image}: cannot read the image (not an image, or truncated)")
        sizes[j.image] = hw
    plan: list[tuple[SegmentJob, str, str, Path | None]] = []
    taken = {r["id"].casefold() for r in ws.images()}
    summary = {"added": 0, "skipped": 0, "masks": 0, "linked": 0, "copied": 0}
    for j in jobs:
        stem, ext = j.image.stem, j.image.suffix.lower()
        image_id, n = stem, 1
        while image_id.casefold() in taken:
            if ws.has(image_id) and filecmp.cmp(ws.image_path(image_id), j.image, shallow=False):
                image_id = ""
                break
            n += 1
            image_id = f"{stem}_{n}"
        if not image_id:
            summary["skipped"] += 1
            continue
        taken.add(image_id.casefold())
        mask_file = mask_index.get(stem) or mask_index.get(image_id)
        mask = None
        if mask_file is not None:  # read and check before anything of this image is written
            mask = read_mask(mask_file)
            if mask.shape != sizes[j.image]:
                h, w = sizes[j.image]
                raise DataError(f"{mask_file}: mask is {mask.shape[1]}x{mask.shape[0]} pixels, its image "
                                f"{j.image} is {w}x{h}")
        plan.append((j, image_id, image_id + ext, mask_file))
    found = _input_metadata(inputs or [], metadata) if (inputs or metadata) else {}
    for j, image_id, name, mask_file in plan:
        how = copy_durably(j.image, ws.root / IMAGES_DIR / name, link=not copy)
        summary["linked" if how == "link" else "copied"] += 1
        h, w = sizes[j.image]
        ws.add_image(image_id, name, w, h, user=user, remote=remote, source=str(j.image), how=how)
        summary["added"] += 1
        if mask_file is not None:
            write_mask_png(ws.mask_path(image_id), read_mask(mask_file))
            ws.import_mask(image_id, status, user=user, remote=remote, source=str(mask_file))
            summary["masks"] += 1
    if ps is not None:
        ws.set_pixel_size(ps, user=user, remote=remote)
    _write_metadata(ws.root, [(i, j.image.stem) for j, i, _, _ in plan], found)
    return summary
