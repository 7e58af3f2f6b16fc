"""DICOM in and out: single-frame colour DICOM images read by :func:`dermaseg.io.read_image`
(:mod:`dermaseg.dicom.read`) and DICOM Segmentation objects written with highdicom
(:mod:`dermaseg.dicom.seg`). pydicom and highdicom are imported only when a DICOM file is met."""

from __future__ import annotations

from dermaseg.dicom.read import DICOM_EXTENSIONS, is_dicom, pixel_size_mm, read_dataset, read_dicom

__all__ = ["DICOM_EXTENSIONS", "is_dicom", "read_dataset", "read_dicom", "pixel_size_mm"]
