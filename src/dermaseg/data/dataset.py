"""Sample records, layout problems and the Dataset container returned by ``load_dataset``.

Normalised label vocabulary (``Sample.label``; lower-case snake_case, ``None`` when the dataset gives none):

- ``ham10000``: the ``dx`` codes as released: ``akiec, bcc, bkl, df, mel, nv, vasc``.
- ``isic2017``: ``melanoma``, ``seborrheic_keratosis``, ``nevus`` (Part 3 CSV: neither flag set = nevus).
- ``isic2016``: ``benign``, ``malignant`` (Part 3 CSV: words in Training, 0.0/1.0 in Test).
- ``ph2``: ``common_nevus``, ``atypical_nevus``, ``melanoma`` (the clinical diagnosis).
- ``isic2018`` (Task 1): no labels.
- ``folder``: the diagnosis column of the optional ``metadata.csv`` (or ``labels.csv``), lower-cased with
  spaces and dashes turned into ``_``.
- ``workspace``: as ``folder`` (its ``metadata.csv``); only its approved images are samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from dermaseg.errors import DataError

__all__ = [
    "FORMATS",
    "LABEL_VOCABULARY",
    "PROBLEM_KINDS",
    "SPLITS",
    "Sample",
    "Record",
    "Problem",
    "Dataset",
    "normalise_label",
]

FORMATS = ("ham10000", "isic2016", "isic2017", "isic2018", "ph2", "folder", "workspace")
SPLITS = ("train", "val", "test")
LABEL_VOCABULARY: dict[str, tuple[str, ...]] = {
    "ham10000": ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"),
    "isic2017": ("melanoma", "seborrheic_keratosis", "nevus"),
    "isic2016": ("benign", "malignant"),
    "ph2": ("common_nevus", "atypical_nevus", "melanoma"),
    "isic2018": (),
    "folder": (),
    "workspace": (),
}

#: Every kind of problem a reader or ``check_dataset`` can report, with its one-line title.
PROBLEM_KINDS: dict[str, str] = {
    "no_images": "no images found",
    "image_without_mask": "images without a mask",
    "mask_without_image": "masks without an image",
    "unreadable": "unreadable or truncated files",
    "size_mismatch": "mask size differs from image size",
    "empty_mask": "empty masks (no lesion pixel)",
    "full_mask": "full masks (every pixel lesion)",
    "non_binary_mask": "non-binary masks (more than 2 values)",
    "duplicate_id": "duplicate ids",
    "metadata_without_image": "metadata rows with no image",
    "image_without_label": "images missing from the label table",
    "bad_table_row": "table rows that cannot be read (extra fields, missing or non-numeric values)",
}


def normalise_label(value: Any) -> str | None:
    """Lower-case snake_case label, or ``None`` for empty / NaN values."""
    if value is None:
        return None
    s = str(value).strip()
    if not s or s.lower() in ("nan", "none", "null"):
        return None
    return "_".join(s.lower().replace("-", " ").split())


@dataclass(frozen=True)
class Sample:
    """One image with its lesion mask.

    ``group`` is the unit that must not cross folds (HAM10000 ``lesion_id``; the id itself elsewhere);
    ``label`` the normalised diagnosis (module docstring) or ``None``; ``split`` the dataset's own split
    (``train``/``val``/``test``) or ``None``; ``meta`` any other column of the dataset's tables.
    """

    id: str
    image: Path
    mask: Path | None
    group: str
    label: str | None = None
    split: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Record:
    """One row of a dataset's metadata table (HAM10000), present whether or not its image is here."""

    id: str
    group: str
    label: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class Problem:
    """A problem found in a dataset: ``kind`` (a key of ``PROBLEM_KINDS``), the file or id, and details."""

    kind: str
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.detail}" if self.detail else self.where


@dataclass
class Dataset:
    """Samples of one dataset folder, as read by ``load_dataset``.

    ``records`` holds the rows of the dataset's metadata table when it has one that lists images which
    may be absent (HAM10000's ``HAM10000_metadata.csv``); it is empty otherwise. ``problems`` are the
    layout-level problems found while reading (pixel-level ones are found by ``check_dataset``).
    """

    root: Path
    format: str
    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]

    @property
    def splits_present(self) -> tuple[str, ...]:
        """The dataset's own splits, in the order train, val, test (empty when it has none)."""
        have = {s.split for s in self.samples}
        return tuple(s for s in SPLITS if s in have)

    @property
    def labels(self) -> tuple[str, ...]:
        """Sorted distinct labels of the samples (``None`` left out)."""
        return tuple(sorted({s.label for s in self.samples if s.label is not None}))

    @property
    def metadata_only(self) -> bool:
        """True when the metadata table lists images that are not here (splits then use the table)."""
        return len(self.records) > len(self.samples)

    def by_id(self) -> dict[str, Sample]:
        """Map id -> sample (the first one when an id is duplicated)."""
        out: dict[str, Sample] = {}
        for s in self.samples:
            out.setdefault(s.id, s)
        return out

    def with_masks(self) -> Dataset:
        """The samples that have a mask (training needs one for every image); none at all -> DataError."""
        kept = [s for s in self.samples if s.mask is not None]
        if not kept:
            raise DataError(f"{self.root}: no image with a mask to train on")
        return replace(self, samples=kept)

    def select(self, split: str) -> Dataset:
        """The samples of one split: ``train``, ``val``, ``test``, ``all``, or ``auto``.

        ``auto`` is the test split if present, else val, else all. Asking for a split the dataset does not
        have raises :class:`DataError` listing the splits it has.
        """
        if split == "all":
            return replace(self, samples=list(self.samples))
        if split == "auto":
            present = self.splits_present
            split = "test" if "test" in present else "val" if "val" in present else "all"
            return self.select(split)
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}: choose train, val, test, all or auto")
        if split not in self.splits_present:
            have = ", ".join(self.splits_present) or "none (use --split all)"
            raise DataError(f"{self.root}: no {split!r} split in this {self.format} dataset (splits: {have})")
        return replace(self, samples=[s for s in self.samples if s.split == split])
