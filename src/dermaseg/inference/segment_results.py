"""``dermaseg segment``'s table: OUT/results.csv, one row per image, and the journal that makes a run resumable.

Each finished image appends its row to ``OUT/.results.partial.csv`` (the journal, flushed row by row); the end
of the run writes ``results.csv`` atomically and removes the journal. A killed run therefore leaves its
finished rows in the journal, and ``--skip-existing`` reads both files to know which images are done (a
half-written last journal line is dropped). File names that are not valid UTF-8 are kept as their raw bytes
in the journal (``surrogateescape``: they read back as the same paths) and written escaped (``\xe9``) in
results.csv, which is always valid UTF-8.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from dermaseg.io import atomic_path

__all__ = ["RESULT_COLUMNS", "JOURNAL", "read_rows", "Journal", "write_results"]

#: results.csv columns: the image as given, its output name below OUT (``<output>_mask.png``...), the model,
#: the prompt and its source, the mask's area, the predicted quality (estimated Jaccard; empty when the model
#: has none), the flags (``;``-joined, empty when none) and the seconds this image took (read + model +
#: post-processing, not writing its files)
RESULT_COLUMNS = ("image", "output", "model", "prompt", "source", "lesion_area_px", "predicted_quality", "flag",
                  "seconds")
JOURNAL = ".results.partial.csv"
_ENC = {"encoding": "utf-8", "errors": "surrogateescape"}


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a results.csv or journal that has an ``output`` column (else none: an older table cannot
    say which image a row belongs to). A last line without its newline (a killed write) is dropped."""
    try:
        text = path.read_text(**_ENC)
    except (OSError, UnicodeDecodeError):
        return []
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.DictReader(io.StringIO(text))
    if "output" not in (reader.fieldnames or []):
        return []
    return [{k: (v or "") for k, v in row.items() if k is not None} for row in reader if row.get("output")]


class Journal:
    """Append-only row log of a running segment (module docstring). ``fresh`` removes a previous run's."""

    def __init__(self, out: Path, fresh: bool, columns: tuple[str, ...] = RESULT_COLUMNS) -> None:
        self.path = out / JOURNAL
        self.columns = columns
        if fresh and self.path.exists():
            self.path.unlink()
        self._f = None

    def add(self, row: dict[str, object]) -> None:
        """Append one row and flush it (a killed process loses no finished row)."""
        if self._f is None:
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._f = open(self.path, "a", newline="", **_ENC)  # noqa: SIM115 - closed in close()
            if new:
                csv.writer(self._f, lineterminator="\n").writerow(self.columns)
        csv.DictWriter(self._f, fieldnames=self.columns, lineterminator="\n", extrasaction="ignore").writerow(row)
        self._f.flush()

    def close(self, remove: bool) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        if remove and self.path.exists():
            self.path.unlink()


def write_results(path: Path, rows: list[dict[str, object]], columns: tuple[str, ...] = RESULT_COLUMNS) -> None:
    """Write results.csv atomically with ``columns`` (:data:`RESULT_COLUMNS`, plus the measurement columns
    when measuring; a kept row without them gets empty cells)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    text = buf.getvalue()
    # results.csv is valid UTF-8 whatever the file names: bytes that are not UTF-8 are written escaped
    # (\xe9), said once; the journal keeps the raw bytes (read back as the same paths)
    escaped = any("\udc80" <= ch <= "\udcff" for ch in text)
    if escaped:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        f.write(text)
    if escaped:
        import sys

        print(f"note: {path}: file names that are not valid UTF-8 are written with \\xNN escapes",
              file=sys.stderr)
