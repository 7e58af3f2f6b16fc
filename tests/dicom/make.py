"""Synthetic DICOM files made from real images for the tests (nothing is committed): an RGB array becomes a
single-frame Dermoscopic Photography (or VL Photographic) image, uncompressed RGB / YBR_FULL, RLE, JPEG-LS or
JPEG baseline (YBR_FULL_422, encoded by Pillow and encapsulated), with an optional pixel spacing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

DERMOSCOPIC = "1.2.840.10008.5.1.4.1.1.77.1.7"  # Dermoscopic Photography Image Storage
VL_PHOTO = "1.2.840.10008.5.1.4.1.1.77.1.4"  # VL Photographic Image Storage


def make_dicom(rgb: np.ndarray, path: Path, encoding: str = "rgb", spacing: tuple[float, float] | None = None,
               spacing_tag: str = "PixelSpacing", sop_class: str = DERMOSCOPIC) -> Path:
    """Write ``rgb`` (uint8 H×W×3) as DICOM at ``path``. ``encoding``: rgb, ybr_full, rle, jpegls, jpeg."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.pixels import convert_color_space
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        JPEGBaseline8Bit,
        JPEGLSLossless,
        RLELossless,
        generate_uid,
    )

    h, w = rgb.shape[:2]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Synthetic", "TEST0001", "", "O"
    ds.StudyDate, ds.StudyTime, ds.ContentDate, ds.ContentTime = "20261207", "120000", "20261207", "120000"
    ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "", "", "1"
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "XC", 1, 1
    ds.Manufacturer = "dermaseg tests"
    ds.AcquisitionDateTime = "20261207120000"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.ContentTime = "120000"
    ds.BurnedInAnnotation = "NO"
    ds.PatientOrientation = ""
    ds.LossyImageCompression = "01" if encoding == "jpeg" else "00"
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if spacing is not None:
        setattr(ds, spacing_tag, [f"{spacing[0]:.6g}", f"{spacing[1]:.6g}"])
    if encoding in ("rgb", "rle", "jpegls"):
        ds.PhotometricInterpretation = "RGB"
        ds.PixelData = np.ascontiguousarray(rgb).tobytes()
        if encoding == "rle":
            ds.compress(RLELossless)
        elif encoding == "jpegls":
            ds.compress(JPEGLSLossless)
    elif encoding == "ybr_full":
        ds.PhotometricInterpretation = "YBR_FULL"
        ds.PixelData = np.ascontiguousarray(convert_color_space(rgb, "RGB", "YBR_FULL")).tobytes()
    elif encoding == "jpeg":
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=95, subsampling=1)  # 4:2:2, as cameras store it
        ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.PixelData = encapsulate([buf.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompressionRatio = f"{rgb.nbytes / len(buf.getvalue()):.2f}"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
    else:
        raise ValueError(encoding)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
