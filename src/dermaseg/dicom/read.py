"""Reading single-frame colour DICOM images (dermoscopic photography, VL photographic, secondary capture).

:func:`dermaseg.io.read_image` hands a file here when it is DICOM (:func:`is_dicom`: a ``.dcm``/``.dicom``
name or the ``DICM`` magic after the 128-byte preamble), so every command reads DICOM the same way.

What is read: one frame, 8 bits per sample, ``SamplesPerPixel`` 3 with ``PhotometricInterpretation``
``RGB``, ``YBR_FULL`` or ``YBR_FULL_422`` (converted to RGB), or 1 (``MONOCHROME2``, expanded to grey RGB),
uncompressed or with a compressed transfer syntax a pydicom pixel-data handler decodes (JPEG baseline and
extended through pylibjpeg-libjpeg or Pillow, JPEG-LS through pyjpegls, RLE through pydicom itself).
Anything else (several frames, 16-bit colour, no pixel data, a transfer syntax no handler decodes, a file
that is not DICOM) raises :class:`~dermaseg.errors.DataError` with one line naming the file and the reason.

Pixel size (:func:`pixel_size_mm`): ``PixelSpacing``, else ``ImagerPixelSpacing``, else
``NominalScannedPixelSpacing`` (row, column spacing in mm); None when none is present or the pixels are not
square (a single mm-per-pixel figure would be wrong), never guessed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dermaseg.errors import DataError

__all__ = ["DICOM_EXTENSIONS", "is_dicom", "read_dataset", "dicom_rgb", "read_dicom", "pixel_size_mm",
           "SPACING_TAGS"]

DICOM_EXTENSIONS = (".dcm", ".dicom")
#: where a pixel size is looked for, in this order (row spacing, column spacing; mm)
SPACING_TAGS = ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing")


def _label(source: Any, name: str | None) -> str:
    return name or (str(Path(source)) if isinstance(source, str | os.PathLike) else "<upload>")


def is_dicom(source: str | os.PathLike | BinaryIO) -> bool:
    """Whether ``source`` (a path or a seekable binary file) is DICOM: a DICOM extension, or the ``DICM``
    magic at byte 128. A file object is left at the position it had."""
    if isinstance(source, str | os.PathLike):
        if Path(source).suffix.lower() in DICOM_EXTENSIONS:
            return True
        try:
            with open(source, "rb") as f:
                head = f.read(132)
        except OSError:
            return False
        return head[128:132] == b"DICM"
    try:
        pos = source.tell()
        head = source.read(132)
        source.seek(pos)
    except (OSError, AttributeError, ValueError):
        return False
    return head[128:132] == b"DICM"


def read_dataset(source: str | os.PathLike | BinaryIO, name: str | None = None) -> Any:
    """The ``pydicom.Dataset`` of ``source`` (pixel data not decoded yet); one-line DataError otherwise."""
    label = _label(source, name)
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
    except ImportError as e:  # pragma: no cover - pydicom is a dependency
        raise DataError(f"{label}: reading DICOM needs pydicom (pip install pydicom)") from e
    try:
        return pydicom.dcmread(source)
    except FileNotFoundError as e:
        raise DataError(f"{label}: no such file") from e
    except InvalidDicomError as e:
        raise DataError(f"{label}: not a DICOM file ({e})") from e
    except Exception as e:  # truncated or corrupt headers surface as many exception types
        raise DataError(f"{label}: cannot read DICOM ({type(e).__name__}: {e})") from e


def dicom_rgb(ds: Any, label: str) -> np.ndarray:
    """Decode a single-frame colour (or grey) 8-bit DICOM dataset to RGB ``uint8`` H×W×3 (module docstring)."""
    if "PixelData" not in ds:
        raise DataError(f"{label}: DICOM without pixel data (not an image)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise DataError(f"{label}: DICOM with {frames} frames; only single-frame images are supported")
    bits = int(ds.get("BitsAllocated", 0) or 0)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    if samples == 3 and pi not in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        raise DataError(f"{label}: DICOM photometric interpretation {pi or '(none)'} is not supported "
                        "(RGB, YBR_FULL, YBR_FULL_422 or MONOCHROME2)")
    if samples == 1 and pi not in ("MONOCHROME2", "MONOCHROME1"):
        raise DataError(f"{label}: DICOM photometric interpretation {pi or '(none)'} is not supported")
    if samples not in (1, 3):
        raise DataError(f"{label}: DICOM with {samples} samples per pixel is not supported")
    if samples == 3 and bits != 8:
        raise DataError(f"{label}: DICOM colour image with {bits} bits per sample; only 8 is supported")
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS  # the same decompression-bomb limit as every other image, before decoding
    if limit and rows * cols > limit:
        raise DataError(f"{label}: image of {cols}x{rows} pixels exceeds the limit of {limit} pixels "
                        "(a decompression bomb?)")
    ts = ds.file_meta.get("TransferSyntaxUID", None) if hasattr(ds, "file_meta") else None
    try:
        # pydicom 3 converts YBR_FULL / YBR_FULL_422 to RGB (for JPEG the decoder may already have)
        a = ds.pixel_array
    except Exception as e:
        what = getattr(ts, "name", None) or str(ts or "unknown transfer syntax")
        raise DataError(f"{label}: cannot decode DICOM pixel data ({what}): {str(e).splitlines()[0]}") from e
    a = np.asarray(a)
    if samples == 1:
        a = a.astype(np.float64)
        top = float(a.max()) if a.size and a.max() > 0 else 1.0
        if pi == "MONOCHROME1":
            a = top - a
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise DataError(f"{label}: DICOM pixel data of shape {a.shape}; expected one H×W×3 colour frame")
    return np.ascontiguousarray(a, dtype=np.uint8)


def read_dicom(source: str | os.PathLike | BinaryIO, name: str | None = None) -> np.ndarray:
    """Read a DICOM image file (path or binary file) as RGB ``uint8`` H×W×3 (module docstring)."""
    label = _label(source, name)
    return dicom_rgb(read_dataset(source, name), label)


def pixel_size_mm(ds: Any) -> float | None:
    """The pixel size in mm of a dataset (module docstring: spacing tags in order; None when absent,
    not positive or not square)."""
    for tag in SPACING_TAGS:
        value = ds.get(tag, None)
        if value is None:
            continue
        try:
            vals = [float(v) for v in (value if isinstance(value, list | tuple) or hasattr(value, "__iter__")
                                       and not isinstance(value, str) else [value])]
        except (TypeError, ValueError):
            continue
        if not vals or any(not np.isfinite(v) or v <= 0 for v in vals):
            continue
        row = vals[0]
        col = vals[1] if len(vals) > 1 else vals[0]
        if abs(row - col) > 1e-6 * max(row, col):
            return None
        return row
    return None
