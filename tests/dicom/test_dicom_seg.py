"""DICOM SEG output: ``segment --save mask,dicom-seg`` and ``GET /api/images/{id}/mask.dcm`` write a Segmentation
that highdicom (read independently here, not through dermaseg's reader) reads back to the identical mask, that
references its source instance and names the algorithm, and that Debian's ``dciodvfy`` validates where installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from dermaseg.io import read_image, read_mask
from tests.clirun import run_cli_out_err

from .make import make_dicom

pytest.importorskip("highdicom")

SAMPLE = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "assets" / "samples" / "ISIC_0012099.jpg"


def _read_back(path: Path):
    import highdicom as hd

    seg = hd.seg.segread(str(path))
    a = np.asarray(seg.pixel_array)
    return seg, (a[0] if a.ndim == 3 else a).astype(bool)


def _check_references(seg, source_path: Path) -> None:
    import pydicom

    src = pydicom.dcmread(str(source_path))
    assert seg.StudyInstanceUID == src.StudyInstanceUID
    assert seg.SegmentationType == "BINARY"
    refs = [i.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for i in s.ReferencedInstanceSequence]
    assert refs == [src.SOPInstanceUID]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == src.SeriesInstanceUID
    seg_desc = seg.SegmentSequence[0]
    assert seg_desc.SegmentAlgorithmType in ("AUTOMATIC", "MANUAL") and seg_desc.SegmentLabel


def _dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [ln for ln in (out.stdout + out.stderr).splitlines() if ln.startswith("Error")]


@pytest.mark.parametrize("encoding", ["rgb", "jpeg"])
def test_segment_writes_a_seg_that_reads_back_to_the_mask(tmp_path, capsys, encoding):
    (tmp_path / "in").mkdir()
    src = make_dicom(read_image(SAMPLE), tmp_path / "in" / "lesion.dcm", encoding, spacing=(0.05, 0.05))
    out = tmp_path / "out"
    code, _, err = run_cli_out_err(["segment", src, "--out", out, "--save", "mask,dicom-seg"], capsys)
    assert code == 0, err
    seg_file = next(out.glob("lesion*.dcm"))
    seg, got = _read_back(seg_file)
    want = read_mask(out / "lesion_mask.png")
    assert want.any() and got.shape == want.shape and np.array_equal(got, want)
    _check_references(seg, src)
    assert "dermaseg" in str(seg.SoftwareVersions)
    if shutil.which("dciodvfy"):
        assert _dciodvfy_errors(seg_file) == []
