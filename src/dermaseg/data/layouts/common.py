"""What every dataset layout reader shares: case-insensitive folder lookup, image listing, pairing images
with masks by id, reading CSV tables, and the layout problems a reader records instead of raising.

Folder names are matched case-insensitively (Kaggle's HAM10000 copy is lower-case). Every reader returns a
:class:`~dermaseg.data.dataset.Dataset` whose samples are sorted by (split, id) (:func:`finish`).
"""

from __future__ import annotations

import csv
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, Sample
from dermaseg.errors import DataError
from dermaseg.io import IMAGE_EXTENSIONS

__all__ = ["children", "child", "is_image", "list_images", "index_by", "read_csv_rows", "finish", "pair_samples"]

_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, None: 3}


def children(root: Path) -> list[Path]:
    """The entries of a folder, sorted by name."""
    try:
        return sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as e:  # pragma: no cover - permissions
        raise DataError(f"{root}: cannot list folder ({e})") from e


def child(root: Path, *names: str) -> Path | None:
    """The child of ``root`` whose name matches one of ``names`` case-insensitively."""
    want = {n.lower() for n in names}
    for p in children(root):
        if p.name.lower() in want:
            return p
    return None


def is_image(p: Path) -> bool:
    """A visible file with an image extension."""
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")


def list_images(folder: Path) -> list[Path]:
    """Image files in ``folder``; when it has none, those one level down (zip files unpacked twice)."""
    files = [p for p in children(folder) if is_image(p)]
    if not files:
        for sub in children(folder):
            if sub.is_dir():
                files += [p for p in children(sub) if is_image(p)]
    return files


def index_by(paths: list[Path], key, problems: list[Problem]) -> dict[str, Path]:
    """Map key(path) -> path; every further path with the same key is a ``duplicate_id`` problem."""
    out: dict[str, Path] = {}
    for p in sorted(paths, key=lambda q: str(q)):
        k = key(p)
        if k is None:
            continue
        if k in out:
            problems.append(Problem("duplicate_id", k, f"{out[k]} and {p}"))
            continue
        out[k] = p
    return out


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV/TSV file with a header row (delimiter sniffed from the header line)."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e})") from e
    first = text.split("\n", 1)[0]
    delim = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delim)
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def finish(root: Path, fmt: str, samples: list[Sample], problems: list[Problem], **kw) -> Dataset:
    """The reader's Dataset, samples sorted by (split, id, image path)."""
    samples.sort(key=lambda s: (_SPLIT_ORDER.get(s.split, 3), s.id, str(s.image)))
    return Dataset(root=root, format=fmt, samples=samples, problems=problems, **kw)


def pair_samples(root: Path, fmt: str, images: dict[str, Path], masks: dict[str, Path], problems: list[Problem],
          split: str | None, labels: dict[str, str | None] | None, groups: dict[str, str] | None = None,
          meta: dict[str, dict] | None = None) -> list[Sample]:
    """Samples from id->image and id->mask maps; record images without mask and masks without image."""
    samples = []
    for sid, img in images.items():
        mask = masks.get(sid)
        if mask is None:
            problems.append(Problem("image_without_mask", str(img)))
        label = None
        if labels is not None:
            if sid in labels:
                label = labels[sid]
            else:
                problems.append(Problem("image_without_label", str(img)))
        samples.append(Sample(id=sid, image=img, mask=mask, group=(groups or {}).get(sid, sid), label=label,
                              split=split, meta=dict((meta or {}).get(sid, {}))))
    for sid, m in masks.items():
        if sid not in images:
            problems.append(Problem("mask_without_image", str(m)))
    return samples
