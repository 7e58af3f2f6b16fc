"""``check_dataset``: validate a dataset folder without modifying it (``dermaseg data check DIR``).

Reports the detected format, counts per split, the distribution of image sizes, the class balance and
every problem (kinds in :data:`dermaseg.data.dataset.PROBLEM_KINDS`): images without masks, masks without
images, unreadable or truncated files, mask/image size mismatch, empty or full masks, non-binary masks
(more than two distinct values after the mask rule's channel reduction), duplicate ids, metadata rows with
no image and images missing from the label table.

Decisions:
- A dataset with no image at all is a ``no_images`` problem (an empty copy never checks OK).
- Rows of a metadata or label table that cannot be read are ``bad_table_row`` problems (with the file and
  line), never an exception.
- Any problem makes the report not ``ok`` (the CLI exits 1). A partial copy (HAM10000 metadata for 10,015
  images but only some images here) is therefore reported, as one summary line with the counts
  ("10,010 of 10,015 metadata rows have no image here"); ``--verbose`` lists every id.
- Each kind prints at most ``max_examples`` (10) examples unless ``verbose``; nothing is written anywhere.
- Images are checked for integrity by decoding them (JPEGs in libjpeg's 1/8-scale draft mode, which still
  reads every byte, so truncation is caught at a fraction of the cost); sizes come from the header.
  Masks are decoded fully. Files are opened read-only; the dataset is never modified.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dermaseg.data.dataset import PROBLEM_KINDS, Problem, Sample
from dermaseg.data.readers import load_dataset
from dermaseg.dicom.read import is_dicom, read_dicom
from dermaseg.errors import DataError

__all__ = ["CheckReport", "check_dataset", "check_sample"]


@dataclass
class CheckReport:
    """Result of :func:`check_dataset`; ``ok`` is True when no problem was found."""

    root: Path
    format: str
    counts: dict[str, dict[str, int]]  # split -> {"images", "masks", "labelled"}
    sizes: Counter  # "WxH" -> number of images
    classes: dict[str, Counter]  # split -> label -> count
    problems: list[Problem]
    n_records: int = 0
    seconds: float = 0.0
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_kind(self) -> dict[str, list[Problem]]:
        """Problems grouped by kind, in the order of ``PROBLEM_KINDS``."""
        out: dict[str, list[Problem]] = {}
        for k in PROBLEM_KINDS:
            items = [p for p in self.problems if p.kind == k]
            if items:
                out[k] = items
        for p in self.problems:  # kinds not in the table (never expected)
            if p.kind not in PROBLEM_KINDS:
                out.setdefault(p.kind, []).append(p)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (every problem included)."""
        return {
            "root": str(self.root), "format": self.format, "ok": self.ok, "counts": self.counts,
            "sizes": dict(self.sizes), "classes": {k: dict(v) for k, v in self.classes.items()},
            "metadata_rows": self.n_records,
            "problems": {k: [str(p) for p in v] for k, v in self.by_kind().items()},
        }

    def summary_line(self, kind: str, items: list[Problem]) -> str:
        """One line per problem kind, with counts (metadata rows are put against the table's size)."""
        title = PROBLEM_KINDS.get(kind, kind)
        n = len(items)
        if kind == "metadata_without_image" and self.n_records:
            have = self.n_records - n
            return (f"{title}: {n:,} of {self.n_records:,} metadata rows have no image here "
                    f"({have:,} present; a partial copy?)")
        return f"{title}: {n:,}"

    def print(self, verbose: bool = False, max_examples: int = 10, console=None) -> None:
        """Print the report with rich (tables of counts, sizes, classes; problems with examples)."""
        from rich.console import Console
        from rich.table import Table

        con = console or Console()
        con.print(f"[bold]{self.root}[/bold]  format: [cyan]{self.format}[/cyan]"
                  + (f"  ({self.n_records:,} metadata rows)" if self.n_records else ""))
        t = Table(title="Counts", show_edge=False)
        for col in ("split", "images", "masks", "labelled"):
            t.add_column(col, justify="left" if col == "split" else "right")
        for split, c in self.counts.items():
            t.add_row(split, f"{c['images']:,}", f"{c['masks']:,}", f"{c['labelled']:,}")
        con.print(t)
        top = self.sizes.most_common(6)
        rest = sum(self.sizes.values()) - sum(n for _, n in top)
        sizes = ", ".join(f"{s}: {n:,}" for s, n in top) + (f", other: {rest:,}" if rest else "")
        con.print(f"image sizes (W x H): {sizes or 'none readable'}"
                  + (f"  [{len(self.sizes)} distinct]" if len(self.sizes) > 1 else ""))
        labels = sorted({lab for c in self.classes.values() for lab in c})
        if labels and labels != ["-"]:
            ct = Table(title="Class balance", show_edge=False)
            ct.add_column("label")
            for split in self.classes:
                ct.add_column(split, justify="right")
            for lab in labels:
                ct.add_row(lab, *(f"{self.classes[s].get(lab, 0):,}" for s in self.classes))
            con.print(ct)
        if self.ok:
            con.print(f"[green]OK[/green]: no problems found ({self.seconds:.1f} s)")
            return
        con.print(f"[red]{len(self.problems):,} problem(s)[/red] ({self.seconds:.1f} s):")
        for kind, items in self.by_kind().items():
            con.print(f"  [red]x[/red] {self.summary_line(kind, items)}", highlight=False)
            shown = items if verbose else items[:max_examples]
            for p in shown:
                con.print(f"      {p}", highlight=False, markup=False, soft_wrap=True)  # paths whole
            if len(items) > len(shown):
                con.print(f"      ... and {len(items) - len(shown):,} more (--verbose lists all)")


def _open_quietly(path: Path):
    """PIL's open without its DecompressionBombWarning (between 1x and 2x its limit): _check_pixels refuses
    such an image as a problem instead of a warning on the terminal."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(path)


def _check_pixels(size: tuple[int, int]) -> None:
    """The rule of dermaseg.io: more pixels than PIL's limit is refused from the header, before decoding."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit and size[0] * size[1] > limit:
        raise ValueError(f"image of {size[0]}x{size[1]} pixels exceeds the limit of {limit} pixels "
                         "(a decompression bomb?)")


def _mask_values(path: Path) -> tuple[tuple[int, int], np.ndarray]:
    """(size W×H, channel-reduced H×W array) of a mask, following the mask rule's reduction."""

    with _open_quietly(path) as im:
        _check_pixels(im.size)
        im.load()
        size = im.size
        if im.mode == "P":
            im = im.convert("RGB")
        elif im.mode in ("RGBA", "LA"):
            im = im.convert("RGB" if im.mode == "RGBA" else "L")
        a = np.asarray(im)
    if a.ndim == 3:
        a = a[..., :3].max(axis=2)
    return size, a


def _image_size(path: Path) -> tuple[int, int]:
    """Decode an image (JPEG at 1/8 scale) to prove it is whole; return its displayed W×H (EXIF applied).
    A DICOM image is decoded in full by :func:`dermaseg.dicom.read.read_dicom` (its one-line reason on
    failure)."""

    if is_dicom(path):

        h, w = read_dicom(path).shape[:2]
        return w, h

    with _open_quietly(path) as im:
        size = im.size
        _check_pixels(size)
        orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
        if im.format == "JPEG":
            im.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
        im.load()
    if orientation in (5, 6, 7, 8):
        size = (size[1], size[0])
    return size


def _read_error(e: Exception) -> str:
    """The problem text of an image PIL could not read: what is wrong, without PIL's repeat of the path."""
    from PIL import Image, UnidentifiedImageError


    if isinstance(e, DataError):  # DICOM: "<file>: <reason>"; the file is named by the Problem already
        return str(e).split(": ", 1)[-1]
    if isinstance(e, UnidentifiedImageError):
        return "not an image format PIL recognises"
    if isinstance(e, Image.DecompressionBombError | ValueError) and "pixels" in str(e):
        return str(e)
    return f"cannot read image ({e})"


def check_sample(s: Sample) -> tuple[tuple[int, int] | None, list[Problem]]:
    """Pixel-level checks of one sample: (image W×H or None, problems)."""
    problems: list[Problem] = []
    size = None
    try:
        size = _image_size(s.image)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        problems.append(Problem("unreadable", str(s.image), _read_error(e)))
    if s.mask is None:
        return size, problems
    try:
        msize, a = _mask_values(s.mask)
    except Exception as e:
        problems.append(Problem("unreadable", str(s.mask), _read_error(e)))
        return size, problems
    if size is not None and msize != size:
        problems.append(Problem("size_mismatch", str(s.mask), f"mask {msize[0]}x{msize[1]}, "
                                                              f"image {size[0]}x{size[1]}"))
    if a.dtype == np.uint8:
        values = np.flatnonzero(np.bincount(a.ravel(), minlength=256))
    else:
        values = np.unique(a)
    if values.size > 2:
        problems.append(Problem("non_binary_mask", str(s.mask), f"{values.size} distinct values "
                                                                f"({', '.join(str(v) for v in values[:6])}"
                                                                f"{', ...' if values.size > 6 else ''})"))
    top = values.max() if values.size else 0
    lesion = int((a >= top / 2.0).sum()) if top > 0 else 0
    if lesion == 0:
        problems.append(Problem("empty_mask", str(s.mask)))
    elif lesion == a.size:
        problems.append(Problem("full_mask", str(s.mask)))
    return size, problems


def check_dataset(path: str | os.PathLike, format: str = "auto", progress: bool = True,
                  workers: int | None = None) -> CheckReport:
    """Check the dataset at ``path``; see the module docstring for what is checked. Never writes."""
    t0 = time.perf_counter()
    ds = load_dataset(path, format=format)
    problems = list(ds.problems)
    if not ds.samples:  # an empty copy is not a dataset that checks OK
        problems.insert(0, Problem("no_images", str(ds.root), f"no image files where the {ds.format} layout "
                                                              "puts them"))
    splits = ds.splits_present or (None,)
    counts: dict[str, dict[str, int]] = {}
    classes: dict[str, Counter] = {}
    for split in splits:
        ss = [s for s in ds.samples if s.split == split]
        name = split or "all"
        counts[name] = {"images": len(ss), "masks": sum(s.mask is not None for s in ss),
                        "labelled": sum(s.label is not None for s in ss)}
        classes[name] = Counter(s.label or "-" for s in ss)
    if ds.records:  # the metadata table's own class balance (all rows, images here or not)
        classes["metadata"] = Counter(r.label or "-" for r in ds.records)
    sizes: Counter = Counter()
    n_workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        results = pool.map(check_sample, ds.samples)
        if progress and ds.samples:
            from rich.console import Console
            from rich.progress import track

            results = track(results, total=len(ds.samples), description="checking images",
                            console=Console(stderr=True), transient=True)
        for size, probs in results:
            if size is not None:
                sizes[f"{size[0]}x{size[1]}"] += 1
            problems += probs
    return CheckReport(root=ds.root, format=ds.format, counts=counts, sizes=sizes, classes=classes,
                       problems=problems, n_records=len(ds.records), seconds=time.perf_counter() - t0,
                       sources=dict(ds.sources))
