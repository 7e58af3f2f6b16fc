"""DICOM input: every encoding a dermoscopy archive holds decodes to the source image's pixels through the one
reader (:func:`dermaseg.io.read_image`), the pixel spacing becomes the pixel size only when stated, and bad or
unsupported DICOM is one line naming the file and the reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.errors import DataError
from dermaseg.io import image_pixel_size, read_image

from .make import VL_PHOTO, make_dicom

pytest.importorskip("pydicom")

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "assets" / "samples" / "ISIC_0012099.jpg"


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return read_image(SAMPLE)  # a real dermoscopic image shipped with the package


@pytest.mark.parametrize("encoding", ["rgb", "ybr_full", "rle", "jpegls"])
def test_lossless_encodings_give_the_source_pixels_exactly(tmp_path, rgb, encoding):
    p = make_dicom(rgb, tmp_path / f"x_{encoding}.dcm", encoding)
    got = read_image(p)
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    assert np.array_equal(got, rgb)


def test_jpeg_baseline_ybr_422_decodes_as_pillow_decodes_the_same_stream(tmp_path, rgb):
    p = make_dicom(rgb, tmp_path / "x.dcm", "jpeg")
    got = read_image(p)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95, subsampling=1)  # the stream make_dicom wrapped
    ref = np.asarray(Image.open(buf).convert("RGB")).astype(int)
    assert got.shape == rgb.shape
    # two JPEG decoders (libjpeg / Pillow's libjpeg-turbo) differ in chroma upsampling by a few levels at most
    diff = np.abs(got.astype(int) - ref)
    assert diff.max() <= 4 and diff.mean() < 0.5
    assert np.abs(got.astype(int) - rgb.astype(int)).mean() < 2.0  # and it is the image, not noise


def test_a_dicom_without_extension_is_recognised_by_its_magic(tmp_path, rgb):
    p = make_dicom(rgb, tmp_path / "IM000001", "rgb")
    assert np.array_equal(read_image(p), rgb)
    with open(p, "rb") as f:  # an upload (file object) too
        assert np.array_equal(read_image(f, name="IM000001"), rgb)


@pytest.mark.parametrize("tag", ["PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"])
def test_pixel_spacing_is_the_pixel_size(tmp_path, rgb, tag):
    p = make_dicom(rgb[:40, :50], tmp_path / "s.dcm", "rgb", spacing=(0.0125, 0.0125), spacing_tag=tag)
    assert image_pixel_size(p) == pytest.approx(0.0125)


def test_pixel_size_is_never_guessed(tmp_path, rgb):
    none = make_dicom(rgb[:40, :50], tmp_path / "n.dcm", "rgb")
    oblong = make_dicom(rgb[:40, :50], tmp_path / "o.dcm", "rgb", spacing=(0.01, 0.02))
    assert image_pixel_size(none) is None
    assert image_pixel_size(oblong) is None  # non-square pixels: no single mm-per-pixel figure
    assert image_pixel_size(SAMPLE) is None  # JPEG: no pixel size


def _edit(path: Path, **changes) -> Path:
    import pydicom

    ds = pydicom.dcmread(path)
    for k, v in changes.items():
        setattr(ds, k, v)
    ds.save_as(path)
    return path


def test_bad_and_unsupported_dicom_is_one_line_naming_the_file(tmp_path, rgb):
    small = rgb[:20, :30]
    cases = {
        "frames": (_edit(make_dicom(small, tmp_path / "frames.dcm"), NumberOfFrames=2), "2 frames"),
        "palette": (_edit(make_dicom(small, tmp_path / "pal.dcm"), PhotometricInterpretation="PALETTE COLOR"),
                    "photometric interpretation PALETTE COLOR"),
    }
    trunc = make_dicom(small, tmp_path / "trunc.dcm")
    trunc.write_bytes(trunc.read_bytes()[:-500])
    cases["truncated"] = (trunc, "cannot decode DICOM pixel data")
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom file at all" * 10)
    cases["junk"] = (junk, "DICOM")
    nopix = make_dicom(small, tmp_path / "nopix.dcm")
    import pydicom

    ds = pydicom.dcmread(nopix)
    del ds.PixelData
    ds.save_as(nopix)
    cases["nopix"] = (nopix, "without pixel data")
    for name, (path, why) in cases.items():
        with pytest.raises(DataError) as e:
            read_image(path)
        msg = str(e.value)
        assert msg.startswith(f"{path}: ") and why in msg and "\n" not in msg, (name, msg)


def test_vl_photographic_reads_too(tmp_path, rgb):
    p = make_dicom(rgb, tmp_path / "vl.dcm", "rgb", sop_class=VL_PHOTO)
    assert np.array_equal(read_image(p), rgb)
