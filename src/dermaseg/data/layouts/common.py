"""What every dataset layout reader shares: case-insensitive folder lookup, image listing, pairing images
with masks by id, reading CSV tables, and the layout problems a reader records instead of raising.

Folder names are matched case-insensitively (Kaggle's HAM10000 copy is lower-case). Every reader returns a
:class:`~dermaseg.data.dataset.Dataset` whose samples are sorted by (split, id) (:func:`finish`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dermaseg.data.dataset import Dataset, Problem, Sample
from dermaseg.errors import DataError
from dermaseg.io import IMAGE_EXTENSIONS

__all__ = ["children", "child", "is_image", "list_images", "index_by", "read_text", "norm_header", "read_table",
           "read_csv_rows", "find_column", "finish", "pair_samples"]

_SPLIT_ORDER = {"train": 0, "val": 1, "test": 2, None: 3}


def children(root: Path) -> list[Path]:
    """The entries of a folder, sorted by name."""
    try:
        return sorted(root.iterdir(), key=lambda p: p.name)
    except OSError as e:  # pragma: no cover - permissions
        raise DataError(f"{root}: cannot list folder ({e.strerror or e})") from e


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


def read_text(path: Path) -> str:
    """A text table's contents: UTF-8 (a byte-order mark, as Excel writes, is dropped) or UTF-16 with its
    BOM; anything else raises :class:`DataError` naming the file and the first bad byte."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not valid UTF-16 text (byte {e.start})") from e
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: not UTF-8 text (line {line}, byte 0x{data[e.start]:02x}); save it as "
                        "'CSV UTF-8'") from e


def norm_header(name: str) -> str:
    """A column name as the readers compare it: lower case, spaces and dashes as ``_`` (``Image ID`` ->
    ``image_id``)."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def read_table(path: Path, problems: list[Problem] | None = None) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV/TSV/semicolon table with a header row -> (column names, [(line number, row)]).

    The delimiter is the most frequent of tab, comma and semicolon in the header line; column names go
    through :func:`norm_header`; values are stripped; CRLF and quoted fields are read as the csv module
    reads them; blank rows are skipped and a short row is padded with empty values (and, with a ``problems``
list, reported as a ``bad_table_row``). A row with more
    (non-empty) fields than the header is a ``bad_table_row`` problem and left out (its values cannot be
    put in columns); without a ``problems`` list it raises :class:`DataError`."""
    text = read_text(path)
    first = text.lstrip().split("\n", 1)[0]
    delim = max(("\t", ",", ";"), key=lambda d: (first.count(d), d == ","))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for fields in reader:
            if not any(f.strip() for f in fields):
                continue
            if header is None:
                header = [norm_header(f) for f in fields]
                continue
            values = [f.strip() for f in fields]
            if len(values) > len(header) and any(values[len(header):]):
                where = f"{path}:{reader.line_num}"
                detail = f"{len(values)} fields, the header has {len(header)}"
                if problems is None:
                    raise DataError(f"{where}: {detail}")
                problems.append(Problem("bad_table_row", where, detail))
                continue
            if len(values) < len(header) and problems is not None:  # kept, padded, and reported
                problems.append(Problem("bad_table_row", f"{path}:{reader.line_num}",
                                        f"{len(values)} field(s), the header has {len(header)}; the rest "
                                        "read as empty"))
            values += [""] * (len(header) - len(values))
            rows.append((reader.line_num, dict(zip(header, values, strict=False))))
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: cannot read this table ({e})") from e
    return header or [], rows


def read_csv_rows(path: Path, problems: list[Problem] | None = None) -> list[dict[str, str]]:
    """The rows of :func:`read_table` (column names normalised, bad rows reported in ``problems``)."""
    return [row for _, row in read_table(path, problems)[1]]


def find_column(header: list[str], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` (normalised spellings) that is a column of ``header``, or None."""
    have = set(header)
    return next((n for n in names if n in have), None)


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
