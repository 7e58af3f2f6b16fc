"""Image and mask reading, and atomic file writing.

Images load as RGB ``uint8`` arrays of shape H×W×3 with EXIF orientation applied; grayscale, RGBA,
palette and 16-bit inputs are converted, never rejected. DICOM files (``.dcm``/``.dicom``, or any file with
the DICOM magic) are read by :mod:`dermaseg.dicom.read` (single-frame colour; its pixel spacing is
:func:`image_pixel_size`).

Mask rule (one rule for every dataset): the mask is reduced to one channel (palette masks are first
expanded to their colours; colour masks take the maximum over R, G, B; alpha is ignored), then a pixel is
lesion when its value is at least half of the mask's own maximum value. An all-zero mask is empty. This
reads 0/1, 0/255, 0/65535, RGB and palette masks and BMP files the same way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dermaseg.dicom.read import is_dicom, pixel_size_mm, read_dicom
from dermaseg.errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "image_pixel_size",
    "check_rgb",
    "as_rgb",
    "read_mask",
    "mask_from_array",
    "atomic_path",
    "check_out",
    "png_pixels",
    "write_png",
    "write_text",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dcm", ".dicom")


def _open(source: str | os.PathLike | BinaryIO, name: str | None = None,
          max_pixels: int | None = None) -> Image.Image:
    """Open and decode an image file (a path, or a binary file object named ``name`` in messages).

    An image with more pixels than PIL's ``Image.MAX_IMAGE_PIXELS`` (a decompression bomb: PIL only
    warns below twice that) is refused from its header, before any pixel is decoded."""
    label = name or (str(Path(source)) if isinstance(source, str | os.PathLike) else "<upload>")
    try:
        with warnings.catch_warnings():  # PIL warns between 1x and 2x its limit: refused below, in one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source if not isinstance(source, str | os.PathLike) else Path(source))
        limit = max_pixels or Image.MAX_IMAGE_PIXELS
        if limit and im.size[0] * im.size[1] > limit:
            im.close()
            raise DataError(f"{label}: image of {im.size[0]}x{im.size[1]} pixels exceeds the limit of "
                            f"{limit} pixels (a decompression bomb?)")
        im.load()  # forces decoding: truncated files fail here, not later
    except FileNotFoundError as e:
        raise DataError(f"{label}: no such file") from e
    except Image.DecompressionBombError as e:
        raise DataError(f"{label}: {e}") from e
    except UnidentifiedImageError as e:  # PIL's message repeats the path: keep ours path-free when named
        raise DataError(f"{label}: cannot read image (not an image format PIL recognises)") from e
    except (OSError, SyntaxError, ValueError) as e:
        why = str(e)
        if "not processed" in why or "truncated" in why.lower() or "broken data stream" in why:
            why = f"the file is truncated or corrupt: {why}"  # Pillow's "(4 bytes not processed)"
        raise DataError(f"{label}: cannot read image ({why})") from e
    return im


def _to_uint8_rgb(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        top = a.max() if a.max() > 0 else 1.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    a = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(a, dtype=np.uint8)


def read_image(path: str | os.PathLike | BinaryIO, name: str | None = None,
               max_pixels: int | None = None) -> np.ndarray:
    """Read an image file (a path or a binary file object) as RGB ``uint8``, H×W×3, EXIF orientation
    applied.

    Raises :class:`DataError` naming the file (``name`` when given) when it is missing, unreadable,
    truncated, a decompression bomb (more than ``max_pixels``, default ``PIL.Image.MAX_IMAGE_PIXELS``,
    pixels: refused from the header, before decoding) or smaller than 2×2. DICOM files go through
    :func:`dermaseg.dicom.read.read_dicom` (unsupported DICOM: one line saying why).
    """

    if is_dicom(path):

        label = name or (str(Path(path)) if isinstance(path, str | os.PathLike) else "<upload>")
        return check_rgb(read_dicom(path, name), label)
    im = _open(path, name, max_pixels)
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF block: keep the pixels as stored
        pass
    label = name or (str(Path(path)) if isinstance(path, str | os.PathLike) else "<upload>")
    return check_rgb(_to_uint8_rgb(im), label)


def image_pixel_size(path: str | os.PathLike | BinaryIO) -> float | None:
    """The pixel size (mm) an image file states: a DICOM file's pixel spacing
    (:func:`dermaseg.dicom.read.pixel_size_mm`); None for other formats, for DICOM without one, or for a file
    that cannot be read (it fails on its own when read). Never guessed."""

    if not is_dicom(path):
        return None

    try:
        import pydicom

        if hasattr(path, "seek"):
            pos = path.tell()
            try:
                return pixel_size_mm(pydicom.dcmread(path, stop_before_pixels=True))
            finally:
                path.seek(pos)
        return pixel_size_mm(pydicom.dcmread(path, stop_before_pixels=True))
    except Exception:
        return None


def check_rgb(rgb, name: str | None = None) -> np.ndarray:
    """Check an in-memory image: RGB(A) ``uint8`` H×W×3 (or ×4; gray H×W is expanded), at least 2×2.
    Returns it as a contiguous H×W×3 array; anything else raises :class:`DataError` (starting with
    ``name`` when given)."""
    a = np.asarray(rgb)
    label = f"{name}: " if name else ""
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise DataError(f"{label}expected an RGB image H×W×3, got an array of shape {a.shape}")
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise DataError(f"{label}image of {a.shape[1]}x{a.shape[0]} pixels is too small to segment "
                        "(at least 2x2)")
    if a.dtype != np.uint8:
        raise DataError(f"{label}expected a uint8 RGB image, got dtype {a.dtype} (use dermaseg.io.read_image)")
    return np.ascontiguousarray(a[..., :3])


def as_rgb(image, name: str | None = None) -> np.ndarray:
    """Any image a user holds -> checked RGB ``uint8`` H×W×3 (:func:`check_rgb`): a path or binary file
    (:func:`read_image`), a ``PIL.Image`` (EXIF orientation applied, modes converted as in
    :func:`read_image`) or an array."""
    if isinstance(image, str | os.PathLike) or hasattr(image, "read"):
        return check_rgb(read_image(image, name))
    if isinstance(image, Image.Image):
        try:
            image = ImageOps.exif_transpose(image)
        except Exception:  # broken EXIF block: keep the pixels as stored
            pass
        return check_rgb(_to_uint8_rgb(image))
    return check_rgb(image)


def mask_from_array(a: np.ndarray) -> np.ndarray:
    """Apply the mask rule (module docstring) to an array: H×W or H×W×C -> H×W ``bool``."""
    a = np.asarray(a)
    if a.ndim == 3:
        c = a.shape[2]
        a = a[..., : 3 if c >= 3 else 1].max(axis=2)
    if a.ndim != 2:
        raise ValueError(f"mask must be 2-D or 3-D, got shape {a.shape}")
    top = a.max() if a.size else 0
    if top <= 0:
        return np.zeros(a.shape, dtype=bool)
    return a >= (top / 2.0)


def read_mask(path: str | os.PathLike | BinaryIO, name: str | None = None,
              max_pixels: int | None = None) -> np.ndarray:
    """Read a lesion mask (a path or a binary file object) as H×W ``bool`` by the module's mask rule (no
    EXIF rotation: masks carry none). Errors as :func:`read_image`."""
    im = _open(path, name, max_pixels)
    if im.mode == "P":
        im = im.convert("RGB")
    elif im.mode in ("RGBA", "LA"):
        im = im.convert("RGB" if im.mode == "RGBA" else "L")
    return mask_from_array(np.asarray(im))


def check_out(path: str | os.PathLike, kind: str = "folder", option: str = "--out",
              inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Refuse, before any work is done, an output ``path`` (a ``"folder"`` or a ``"file"``) that cannot be
    written: a dangling symbolic link, a name over 255 bytes, a file where a folder is wanted (or the
    reverse), a path below a file, a folder without write permission, or a path equal to or inside one of
    ``inputs`` (the user's own data). Raises :class:`DataError` naming ``option`` and the path."""
    p = Path(path)
    label = f"{option} {p}"
    if any(len(os.fsencode(part)) > 255 for part in p.parts):
        raise DataError(f"{label}: a file or folder name is longer than 255 bytes")
    if p.is_symlink() and not p.exists():
        raise DataError(f"{label}: a symbolic link to {os.readlink(p)}, which does not exist")
    if kind == "folder" and p.exists() and not p.is_dir():
        raise DataError(f"{label}: exists and is not a folder")
    if kind == "file" and p.is_dir():
        raise DataError(f"{label}: is a folder; give a file name")
    q = p if kind == "folder" else p.parent
    while not q.exists() and q != q.parent:
        q = q.parent
    if not q.is_dir():
        raise DataError(f"{label}: {q} is a file, not a folder")
    if not os.access(q, os.W_OK | os.X_OK):
        raise DataError(f"{label}: cannot write in {q} (permission denied)")
    real = p.resolve()
    for inp in inputs:
        src = Path(inp).resolve()
        if src.is_dir() and (real == src or src in real.parents):
            raise DataError(f"{label}: inside the input {inp}; write the outputs elsewhere")
    return p


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    Readers never see a half-written file, and a failure leaves nothing behind.
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a short temporary name: the final name may be close to the file system's 255-byte limit
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name[:40]}.", suffix=".part" + dest.suffix[:10],
                                   dir=dest.parent)
    except OSError as e:
        raise DataError(f"{dest}: cannot write ({e.strerror or e})") from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file 0600; give it the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        try:
            os.replace(tmp_path, dest)
        except OSError as e:
            raise DataError(f"{dest}: cannot write ({e.strerror or e})") from e
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def png_pixels(array: np.ndarray) -> np.ndarray:
    """THE rule for a mask in a PNG file: a bool mask is written one channel of 0 (background) and 255
    (lesion); a uint8 H×W or H×W×3 array as it is. Other dtypes: ValueError."""
    a = np.asarray(array)
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    if a.dtype != np.uint8:
        raise ValueError(f"write_png expects uint8 or bool, got {a.dtype}")
    return a


def write_png(path: str | os.PathLike, array: np.ndarray, compress_level: int = 6) -> None:
    """Write a uint8 H×W or H×W×3 array (or a bool mask, saved as 0/255: :func:`png_pixels`) as PNG,
    atomically. ``compress_level``: zlib's 0-9 (6, PIL's default; a lower one writes the same pixels faster,
    larger)."""
    a = png_pixels(array)
    with atomic_path(path) as tmp:
        Image.fromarray(a).save(tmp, format="PNG", compress_level=int(compress_level))


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (UTF-8; file names that are not UTF-8 are written back as their own
    bytes, as Python decoded them)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
