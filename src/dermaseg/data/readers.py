"""``load_dataset(path, format="auto")``: read any supported dataset layout into :class:`Dataset`.

Formats: ``ham10000``, ``isic2016``, ``isic2017``, ``isic2018``, ``ph2``, ``folder`` (layouts in DESIGN.md,
details in :mod:`dermaseg.data.layouts`). ``format="auto"`` detects the layout; ``"isic"`` accepts any ISIC
year found. A format that does not match the folder raises :class:`DataError` saying what was expected
and what the folder looks like. ``path`` may also be a ``HAM10000_metadata.csv`` file: the dataset is then
that table (its images looked up beside it), which is enough to make lesion-grouped splits.

The normalised label vocabulary is documented in :mod:`dermaseg.data.dataset`.
"""

from __future__ import annotations

import os
from pathlib import Path

from dermaseg.data import layouts
from dermaseg.data.dataset import FORMATS, LABEL_VOCABULARY, Dataset, Problem, Record, Sample
from dermaseg.errors import DataError

__all__ = ["load_dataset", "detect_format", "warn_table_problems", "Dataset", "Sample", "Record", "Problem", "FORMATS",
           "LABEL_VOCABULARY"]


def detect_format(path: str | os.PathLike) -> str | None:
    """The detected layout of a dataset folder (``isic`` when several ISIC years share it), or None."""
    return layouts.detect_format(Path(path))


def load_dataset(path: str | os.PathLike, format: str = "auto") -> Dataset:
    """Read the dataset at ``path`` (a folder, or a ``HAM10000_metadata.csv``) in the given layout."""
    p = Path(path).expanduser()
    fmt = (format or "auto").lower()
    if fmt not in ("auto", "isic", *FORMATS):
        raise DataError(f"unknown dataset format {format!r}: choose auto, {', '.join(FORMATS)} or isic")
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    if p.is_file():
        if p.name.lower().startswith("ham10000_metadata") and fmt in ("auto", "ham10000"):
            return layouts.read_ham10000(p.parent, metadata=p)
        raise DataError(f"{p}: expected a dataset folder (or a HAM10000_metadata.csv file)")
    detected = layouts.detect_format(p)
    if fmt == "auto":
        if detected is None:
            raise DataError(f"{p}: cannot tell the dataset layout (expected HAM10000_*, ISIC *_Data/*_Input "
                            "and *_GroundTruth, 'PH2 Dataset images', or images/ + masks/); pass --format")
        fmt = detected
    looks = f" (it looks like {detected})" if detected and detected != fmt else ""
    try:
        if fmt.startswith("isic"):
            return layouts.read_isic(p, year=fmt[4:] or None)
        return layouts.READERS[fmt](p)
    except DataError as e:
        raise DataError(f"--format {fmt}: {e}{looks}") from e


def warn_table_problems(ds: Dataset) -> int:
    """Say on stderr, as ``dermaseg data check`` reports them, the metadata rows a reader could not use (a
    non-numeric ISIC Part 3 value, a bad split...): their images carry no diagnosis. The one rule is the
    reader's; this is its other voice, for commands that go on (evaluate). Returns how many."""
    import sys

    bad = [p for p in ds.problems if p.kind == "bad_table_row"]
    if bad:
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        print(f"warning: {len(bad)} metadata rows not used ({'; '.join(str(p) for p in bad[:3])}{more}); "
              "their images have no diagnosis (dermaseg data check lists them)", file=sys.stderr)
    return len(bad)
