"""ISIC 2016, 2017 and 2018 Task 1 as downloaded: ``*_Data/`` or ``*_Input/`` images, ``*_GroundTruth/`` masks,
the split from the folder name, diagnosis labels from the Part 3 CSVs (2016, 2017)."""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, Sample
from dermaseg.data.layouts.common import (
    children,
    finish,
    index_by,
    list_images,
    pair_samples,
    read_csv_rows,
    read_text,
)
from dermaseg.errors import DataError

__all__ = ["read_isic", "detect"]


_ISIC_SPLIT = re.compile(r"_(training|validation|test)(?:_v\d+)?_", re.IGNORECASE)
_SPLIT_NAME = {"training": "train", "validation": "val", "test": "test"}


def _isic_year(name: str) -> str | None:
    low = name.lower()
    if "isic" not in low:
        return None
    for year in ("2016", "2017", "2018"):
        if year in low:
            return year
    return None


def _isic_role(name: str) -> str | None:
    """'images', 'masks', 'labels' or None for a Task-1-relevant ISIC folder or CSV name."""
    low = name.lower()
    other_part = re.search(r"(part|task)[23]\b|part[23]_|task[23]_", low) and not re.search(r"part1|task1", low)
    if low.endswith(".csv"):
        return "labels" if "part3" in low and "groundtruth" in low else None
    if other_part:
        return None
    if "groundtruth" in low:
        return "masks"
    if low.endswith(("_data", "_input")):
        return "images"
    return None


def _isic_entries(root: Path) -> dict[str, list[tuple[str, str, Path]]]:
    """year -> [(role, split, path)] for the ISIC folders and Part 3 CSVs directly in ``root``."""
    out: dict[str, list[tuple[str, str, Path]]] = {}
    for p in children(root):
        year = _isic_year(p.name)
        m = _ISIC_SPLIT.search(p.name + "_")
        role = _isic_role(p.name)
        if year is None or m is None or role is None:
            continue
        if role == "labels" and not p.is_file() or role != "labels" and not p.is_dir():
            continue
        out.setdefault(year, []).append((role, _SPLIT_NAME[m.group(1).lower()], p))
    return out


def _flag(value: str) -> bool:
    """A Part 3 0/1 (or 0.0/1.0, or probability) value -> True when >= 0.5; ValueError when not a number."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(value)
    return v >= 0.5


def _isic_labels(path: Path, year: str, problems: list[Problem]) -> dict[str, str | None]:
    """Part 3 ground truth: 2017 image_id,melanoma,seborrheic_keratosis; 2016 headerless id,benign|malignant|0/1.

    A row with a missing or non-numeric value, or more fields than the header, is a ``bad_table_row``
    problem and its image gets no label (``None``)."""
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    rows = [(reader.line_num, [f.strip() for f in r]) for r in reader if r and r[0].strip()]
    out: dict[str, str | None] = {}
    if year == "2017" or (rows and rows[0][1][0].lower() == "image_id"):
        header = [h.lower() for h in rows[0][1]] if rows else []
        if "melanoma" not in header:
            raise DataError(f"{path}: expected columns image_id, melanoma, seborrheic_keratosis; found "
                            f"{', '.join(header) or 'nothing'}")
        mi = header.index("melanoma")
        si = header.index("seborrheic_keratosis") if "seborrheic_keratosis" in header else None
        for line, r in rows[1:]:
            sid = r[0]
            if len(r) > len(header) and any(r[len(header):]):
                problems.append(Problem("bad_table_row", f"{path}:{line}",
                                        f"{len(r)} fields, the header has {len(header)}"))
                out[sid] = None
                continue
            flags: dict[str, bool] = {}
            bad = ""
            for col, idx in (("melanoma", mi), ("seborrheic_keratosis", si)):
                v = r[idx] if idx is not None and idx < len(r) else ""
                if idx is None:
                    continue
                try:
                    flags[col] = _flag(v)
                except ValueError:
                    bad = f"{col} value {v!r} is not a number" if v else f"no {col} value"
                    break
            if bad:
                problems.append(Problem("bad_table_row", f"{path}:{line}", bad))
                out[sid] = None
                continue
            mel, sk = flags["melanoma"], flags.get("seborrheic_keratosis", False)
            out[sid] = "melanoma" if mel else "seborrheic_keratosis" if sk else "nevus"
        return out
    for i, (line, r) in enumerate(rows):
        v = r[1].lower() if len(r) > 1 else ""
        if v in ("benign", "malignant"):
            out[r[0]] = v
            continue
        try:
            out[r[0]] = "malignant" if _flag(v) else "benign"
        except ValueError:
            if i == 0 and not r[0].upper().startswith("ISIC_"):
                continue  # a header row (its first field is not an image id)
            problems.append(Problem("bad_table_row", f"{path}:{line}",
                                    f"diagnosis {v!r} is not benign, malignant, 0 or 1" if v else "no diagnosis"))
            out[r[0]] = None
    return out


def read_isic(root: Path, year: str | None = None) -> Dataset:
    """ISIC 2016/2017/2018 Task 1: ``*_Data/`` or ``*_Input/`` images, ``*_GroundTruth/`` masks named
    ``<id>_segmentation.png`` or ``<id>_Segmentation.png``, split from the folder name, labels from the
    ``*_Part3_GroundTruth.csv`` of the same split (2016, 2017). ``*_superpixels.png`` files are skipped."""
    entries = _isic_entries(root)
    if year is None:
        if len(entries) != 1:
            found = ", ".join(f"isic{y}" for y in sorted(entries)) or "none"
            raise DataError(f"{root}: expected the folders of exactly one ISIC challenge year (found: {found}); "
                            "pass --format isic2016, isic2017 or isic2018")
        year = next(iter(entries))
    fmt = f"isic{year}"
    items = entries.get(year, [])
    if not any(role == "images" for role, _, _ in items):
        raise DataError(f"{root}: no ISIC {year} image folder (*_Data or *_Input with Training/Validation/Test "
                        "in its name)")
    problems: list[Problem] = []
    samples: list[Sample] = []
    for split in ("train", "val", "test"):
        img_dirs = [p for role, s, p in items if role == "images" and s == split]
        if not img_dirs:
            continue
        files = [p for d in img_dirs for p in list_images(d) if not p.stem.lower().endswith("_superpixels")]
        images = index_by(files, lambda p: p.stem, problems)
        mask_files = [p for role, s, d in items if role == "masks" and s == split for p in list_images(d)]
        masks = index_by(mask_files, lambda p: p.stem[:-13] if p.stem.lower().endswith("_segmentation") else None,
                       problems)
        csvs = [p for role, s, p in items if role == "labels" and s == split]
        labels = None
        if csvs:
            labels = {}
            for c in csvs:
                labels.update(_isic_labels(c, year, problems))
            for sid in sorted(set(labels) - set(images)):
                problems.append(Problem("metadata_without_image", sid, f"row of {csvs[0].name}"))
        meta: dict[str, dict] = {}
        tag = {"train": "training", "val": "validation", "test": "test"}[split]
        for f in [*children(root), *(q for d in img_dirs for q in children(d))]:
            low = f.name.lower()
            if f.is_file() and low.endswith("_metadata.csv") and f"_{tag}" in low and _isic_year(f.name) == year:
                for row in read_csv_rows(f, problems):
                    meta.setdefault(row.get("image_id", ""), {k: v for k, v in row.items() if k != "image_id"})
        samples += pair_samples(root, fmt, images, masks, problems, split, labels, meta=meta)
    return finish(root, fmt, samples, problems)


def detect(root: Path) -> str | None:
    """``"isic2016"``/``"isic2017"``/``"isic2018"`` for the folders of one challenge year, ``"isic"`` for
    several, else None."""
    entries = _isic_entries(root)
    if len(entries) == 1:
        return f"isic{next(iter(entries))}"
    return "isic" if entries else None
