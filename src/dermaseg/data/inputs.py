"""What ``dermaseg segment`` and ``dermaseg measure IMAGES...`` read: the images behind the inputs and the
output name of each (segment writes ``OUT/<name>_mask.png``; measure looks for that mask by the same name).

Inputs are image files, plain folders of images, and dataset folders in any layout
:func:`dermaseg.data.readers.load_dataset` detects (HAM10000, ISIC, PH2, folder pairs): of a dataset, its
images are segmented, never its masks (``segment "PH2 Dataset images"``, the image folder of a dataset, is
read through the dataset around it). ``recursive`` walks sub-folders (a sub-folder that is a dataset is read
as one; of a folder-pairs dataset, e.g. a project folder that holds ``images/``, the sub-folders other than
``images/`` and ``masks/`` are walked too).

Output names (:attr:`SegmentJob.output`, the path below OUT without ``_mask.png``):

- a file given directly: its stem;
- an image found in a folder (plain or dataset): its path below that folder, without the extension, so
  sub-folders are mirrored under OUT (``IMD002/IMD002_Dermoscopic_Image/IMD002``);
- the same file given twice (directly or through folders) is segmented once;
- two different images that would get the same name (``a.png`` and ``a.jpg``, or two inputs ``x/a.png`` and
  ``y/a.png``) keep it for the first, in the order given, and ``<name>_2``, ``<name>_3``... for the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dermaseg.data.readers import detect_format, load_dataset
from dermaseg.dicom.read import is_dicom
from dermaseg.errors import DermasegError
from dermaseg.io import IMAGE_EXTENSIONS, check_out

__all__ = ["SegmentJob", "OUTPUT_SUFFIXES", "collect_jobs", "check_out_folder", "image_size"]

#: stems ending like our own outputs are never inputs (a re-run over OUT, or a folder holding them)
OUTPUT_SUFFIXES = ("_mask", "_prob", "_overlay")


@dataclass(frozen=True)
class SegmentJob:
    """One image to segment: the file, and its output name below OUT (posix, no suffix: module docstring)."""

    image: Path
    output: str


def _is_image(p: Path) -> bool:
    return (p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".")
            and not p.stem.endswith(OUTPUT_SUFFIXES) and p.is_file())


def _dataset_images(root: Path) -> list[Path]:
    """The images (never the masks) of the dataset at ``root``, in the reader's order."""
    return [Path(s.image) for s in load_dataset(root).samples]


def _enclosing_dataset_images(folder: Path) -> list[Path] | None:
    """When ``folder`` is the image folder of a dataset one or two levels up (``PH2 Dataset images``,
    ``ISIC-2017_Validation_Data``): that dataset's images below ``folder``; else None. A folder holding only
    such a dataset's masks raises :class:`DermasegError` (masks are never segmented)."""
    here = folder.resolve()
    for parent in list(here.parents)[:2]:
        fmt = detect_format(parent)
        if fmt is None:
            continue
        samples = load_dataset(parent).samples
        inside = [Path(s.image) for s in samples if Path(s.image).resolve().is_relative_to(here)]
        if inside:
            return inside
        if any(s.mask is not None and Path(s.mask).resolve().is_relative_to(here) for s in samples):
            raise DermasegError(f"{folder}: holds the masks of the {fmt} dataset at {parent}; give the dataset "
                                "folder (or its image folder) to segment its images")
    return None


#: the sub-folders of a folder-pairs dataset (``images/`` + ``masks/``) that belong to it; with ``recursive``
#: its other sub-folders are walked like any folder (a project folder that happens to hold ``images/``)
_FOLDER_LAYOUT_PARTS = ("images", "masks")


def _walk(folder: Path, recursive: bool, top: bool = True) -> list[Path]:
    """Images of a folder: a dataset's images when it is (or, for an input folder, lies in) a dataset, else
    its image files; with ``recursive`` the same for every sub-folder, in sorted order (of a folder-pairs
    dataset, its sub-folders other than ``images/`` and ``masks/``). A plain input folder that cannot be
    listed raises; a sub-folder that cannot be listed is skipped."""
    fmt = detect_format(folder)
    images = _dataset_images(folder) if fmt is not None else None
    if images is None and top:
        images = _enclosing_dataset_images(folder)
        if images is not None:
            return images
    if images is not None and not (recursive and fmt == "folder"):
        return images
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as e:
        if images is not None or not top:  # a dataset's images stand; an unlistable sub-folder is skipped
            return images or []
        raise DermasegError(f"{folder}: cannot list folder ({e.strerror or e})") from e
    if images is None:
        images = [p for p in entries if _is_image(p)]
    if recursive:
        for sub in entries:
            if (sub.is_dir() and not sub.name.startswith(".")
                    and not (fmt == "folder" and sub.name.lower() in _FOLDER_LAYOUT_PARTS)):
                images += _walk(sub, True, top=False)
    return images


def collect_jobs(inputs: list[str | os.PathLike], recursive: bool = False) -> list[SegmentJob]:
    """The images behind ``inputs`` (files, folders, dataset folders) with their output names (module
    docstring). A missing input, or a folder with no image, raises :class:`DermasegError` naming it."""
    found: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            images = _walk(p, recursive)
            if not images:
                has_sub = any(q.is_dir() for q in p.iterdir())
                hint = "; add --recursive to walk its sub-folders" if has_sub and not recursive else ""
                raise DermasegError(f"{p}: folder contains no images ({', '.join(IMAGE_EXTENSIONS)}){hint}")
            for img in images:
                rel = img.relative_to(p) if img.is_relative_to(p) else Path(img.name)
                found.append((img, rel.with_suffix("").as_posix()))
        elif p.is_file():
            found.append((p, p.stem))
        elif os.path.lexists(p):
            raise DermasegError(f"{p}: not a file or folder (a broken link?)")
        else:
            raise DermasegError(f"{p}: no such file or folder")
    if not found:
        raise DermasegError("no input images")
    jobs: list[SegmentJob] = []
    seen_files: set[Path] = set()
    taken: set[str] = set()
    for img, name in found:
        key = img.resolve()
        if key in seen_files:
            continue
        seen_files.add(key)
        out, n = name, 1
        while out.casefold() in taken:  # case-insensitive file systems: a.png vs A.png collide too
            n += 1
            out = f"{name}_{n}"
        taken.add(out.casefold())
        jobs.append(SegmentJob(img, out))
    return jobs


def check_out_folder(out: Path, jobs: list[SegmentJob], inputs: list[str | os.PathLike],
                     recursive: bool) -> None:
    """Refuse an ``out`` whose writes could land among the user's own files: no output may be written into a
    folder that holds an input image, nor into an input folder (or, with ``recursive``, below one).
    ``out`` itself must be a folder or not exist yet, and writable (:func:`dermaseg.io.check_out`)."""
    check_out(out)  # a name over 255 bytes, a dangling link, below a file, no permission: one line
    if out.exists() and not out.is_dir():
        raise DermasegError(f"--out {out}: exists and is not a folder")
    base = out.resolve()
    image_dirs = {j.image.resolve().parent for j in jobs}
    input_dirs = [Path(i).resolve() for i in inputs if Path(i).is_dir()]
    for j in jobs:
        target = (base / j.output).parent
        clash = target in image_dirs or target in input_dirs or (
            recursive and any(target.is_relative_to(d) for d in input_dirs))
        if clash:
            raise DermasegError(
                f"--out {out}: outputs would be written into {target}, a folder holding input images; choose a "
                "folder outside the inputs so your own files (e.g. *_mask.png) are never overwritten")


def image_size(path: Path) -> tuple[int, int] | None:
    """(H, W) of an image file as :func:`dermaseg.io.read_image` will return it (EXIF rotation applied),
    from its header only; None when the header cannot be read (the image then fails on its own later)."""
    from PIL import Image


    if is_dicom(path):  # DICOM: Rows × Columns from the header (no orientation to apply)
        try:
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(ds.Rows), int(ds.Columns)
        except Exception:
            return None
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)
