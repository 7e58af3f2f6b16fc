"""Folder pairs: ``images/`` and ``masks/`` matched by stem, with an optional ``labels.csv``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, normalise_label
from dermaseg.data.layouts.common import child, finish, index_by, list_images, pair_samples, read_csv_rows
from dermaseg.errors import DataError
from dermaseg.io import IMAGE_EXTENSIONS

__all__ = ["read_folder", "detect", "MASK_SUFFIXES"]


#: suffixes a mask's stem may add to its image's stem
MASK_SUFFIXES = ("_segmentation", "_mask", "_lesion", "-mask", "_seg")


def _mask_key(p: Path) -> str:
    stem = p.stem
    for suf in MASK_SUFFIXES:
        if stem.lower().endswith(suf):
            return stem[: -len(suf)]
    return stem


def read_folder(root: Path) -> Dataset:
    """Folder pairs: ``images/`` and ``masks/`` matched by stem; a mask stem may add ``_mask``,
    ``_segmentation``, ``_lesion`` (or ``-mask``, ``_seg``). Optional ``labels.csv`` with an id column
    (``id``, ``image_id`` or ``image``) and any of ``label``/``dx``/``diagnosis``, ``group``/``lesion_id``,
    ``split`` (train/val/test)."""
    img_dir, mask_dir = child(root, "images"), child(root, "masks")
    if img_dir is None or not img_dir.is_dir():
        raise DataError(f"{root}: not a folder-pairs dataset (no images/ folder)")
    problems: list[Problem] = []
    images = index_by(list_images(img_dir), lambda p: p.stem, problems)
    masks: dict[str, Path] = {}
    if mask_dir is not None and mask_dir.is_dir():
        # a mask named exactly like an image wins over a suffix match
        masks = index_by(list_images(mask_dir), lambda p: p.stem if p.stem in images else _mask_key(p), problems)
    labels = groups = splits = None
    lab = child(root, "labels.csv")
    if lab is not None and lab.is_file():
        rows = read_csv_rows(lab)
        cols = set(rows[0]) if rows else set()
        idc = next((c for c in ("id", "image_id", "image") if c in cols), None)
        if idc is None:
            raise DataError(f"{lab}: needs an id column (id, image_id or image)")
        lc = next((c for c in ("label", "dx", "diagnosis") if c in cols), None)
        gc = next((c for c in ("group", "lesion_id") if c in cols), None)
        norm_id = {r[idc]: Path(r[idc]).stem if Path(r[idc]).suffix.lower() in IMAGE_EXTENSIONS else r[idc]
                   for r in rows}
        labels = {norm_id[r[idc]]: normalise_label(r[lc]) for r in rows} if lc else None
        groups = {norm_id[r[idc]]: r[gc] for r in rows if r[gc]} if gc else None
        splits = ({norm_id[r[idc]]: {"training": "train", "validation": "val"}.get(r["split"].lower(),
                                                                                r["split"].lower())
                   for r in rows if r["split"]} if "split" in cols else None)
    samples = pair_samples(root, "folder", images, masks, problems, None, labels, groups)
    if splits:
        samples = [replace(s, split=splits.get(s.id)) for s in samples]
    return finish(root, "folder", samples, problems)


def detect(root: Path) -> str | None:
    """``"folder"`` when ``root`` has an ``images/`` folder."""
    img = child(root, "images")
    return "folder" if img is not None and img.is_dir() else None
