"""DICOM Segmentation (SEG) output with highdicom: one BINARY segment, "Lesion" (skin lesion), referencing
its source image.

:func:`seg_dataset` builds the SEG of a mask over its source dataset: the source's study, series and SOP
instance UIDs are referenced (the SEG shares the study, gets a new series and instance UID), the segment is
labelled ``Lesion`` (SCT 49755003 "Morphologically abnormal structure" / 52988006 "Lesion"), its algorithm
is identified (``AUTOMATIC`` with the model's name and version, or ``MANUAL`` for a person's edited mask)
and the software versions name dermaseg's version. The SEG carries no Pixel Measures (the source's pixel
spacing stays on the source it references): highdicom 0.28 writes a 2-D photograph's spacing without the
SliceThickness its own reader then requires, so a SEG with it could not be read back. :func:`write_seg` writes it atomically
(:func:`dermaseg.io.atomic_path`); :func:`read_seg_mask` reads a SEG back to the H×W bool mask.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

import dermaseg
from dermaseg.errors import DataError
from dermaseg.io import atomic_path

__all__ = ["SEGMENT_LABEL", "seg_dataset", "seg_bytes", "write_seg", "read_seg_mask", "SEG_SUFFIX"]

SEGMENT_LABEL = "Lesion"
#: ``segment --save dicom-seg`` writes ``<name>_seg.dcm``
SEG_SUFFIX = "_seg.dcm"


def seg_dataset(source: Any, mask: np.ndarray, model_name: str, model_version: str,
                manual: bool = False, series_number: int = 300) -> Any:
    """A ``highdicom.seg.Segmentation`` of ``mask`` (bool H×W, the source's rows × columns) over the
    pydicom dataset ``source`` (module docstring). ``manual`` marks a mask a person drew or edited."""
    import highdicom as hd
    from pydicom.sr.codedict import codes


    mask = np.asarray(mask, dtype=bool)
    rows, cols = int(source.Rows), int(source.Columns)
    if mask.shape != (rows, cols):
        raise DataError(f"mask of {mask.shape[1]}x{mask.shape[0]} pixels does not match the DICOM image's "
                        f"{cols}x{rows}")
    algorithm = None if manual else hd.AlgorithmIdentificationSequence(
        name=str(model_name)[:64], family=codes.cid7162.ArtificialIntelligence, version=str(model_version)[:64],
        source="dermaseg")
    description = hd.seg.SegmentDescription(
        segment_number=1, segment_label=SEGMENT_LABEL,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL if manual
        else hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm)
    from pydicom.dataset import Dataset

    ref = Dataset(dict(source._dict))  # a new table of the same elements: the spacing tags leave it only
    if hasattr(source, "file_meta"):
        ref.file_meta = source.file_meta
    for tag in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        if tag in ref:
            del ref[tag]
    try:
        seg = hd.seg.Segmentation(
            source_images=[ref], pixel_array=mask.astype(np.uint8)[None],
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[description],
            series_instance_uid=hd.UID(), series_number=series_number, sop_instance_uid=hd.UID(),
            instance_number=1, manufacturer="dermaseg", manufacturer_model_name=str(model_name)[:64],
            software_versions=f"dermaseg {dermaseg.__version__}", device_serial_number="0",
            series_description="dermaseg lesion segmentation", omit_empty_frames=False)
    except (ValueError, TypeError, AttributeError, KeyError) as e:
        raise DataError(f"cannot make a DICOM SEG for this image ({str(e).splitlines()[0]})") from e
    if "FrameOfReferenceUID" not in seg and "PatientOrientation" not in seg:
        # General Image: Type 2C without a frame of reference (a photograph has none); as the source says
        seg.PatientOrientation = source.get("PatientOrientation", "")
    return seg


def seg_bytes(source: Any, mask: np.ndarray, model_name: str, model_version: str, manual: bool = False) -> bytes:
    """:func:`seg_dataset` encoded as a DICOM Part 10 file (bytes)."""
    buf = io.BytesIO()
    seg_dataset(source, mask, model_name, model_version, manual=manual).save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_seg(path: str | os.PathLike, source: Any, mask: np.ndarray, model_name: str, model_version: str,
              manual: bool = False) -> Path:
    """Write the SEG of ``mask`` over ``source`` to ``path`` atomically. Returns the path."""

    data = seg_bytes(source, mask, model_name, model_version, manual=manual)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def read_seg_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a single-frame, one-segment SEG (as written here) back to a bool H×W mask, with highdicom."""
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    a = seg.get_total_pixel_matrix(segment_numbers=[1]) if seg.is_tiled else seg.pixel_array
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[0]
    return a.astype(bool)
