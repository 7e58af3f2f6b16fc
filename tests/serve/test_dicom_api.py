"""``GET /api/images/{id}/mask.dcm``: a DICOM upload's current mask as a DICOM SEG that highdicom reads back to the
mask of ``mask.png``, referencing the upload; a non-DICOM upload gets a 400."""

from __future__ import annotations

import numpy as np
import pytest

from dermaseg.io import read_image
from tests.dicom.make import make_dicom
from tests.dicom.test_dicom_seg import SAMPLE, _check_references, _read_back

from .conftest import png_bytes, png_mask

pytest.importorskip("highdicom")


def test_api_mask_dcm_round_trips_and_a_png_upload_is_refused(tmp_path, make_client):
    client = make_client()
    rgb = read_image(SAMPLE)
    src = make_dicom(rgb, tmp_path / "x.dcm", "rgb")
    r = client.post("/api/images", files={"file": ("x.dcm", src.read_bytes(), "application/dicom")})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    r = client.get(f"/api/images/{iid}/mask.dcm")
    assert r.status_code == 200 and r.headers["content-type"] == "application/dicom"
    (tmp_path / "seg.dcm").write_bytes(r.content)
    seg, got = _read_back(tmp_path / "seg.dcm")
    assert np.array_equal(got, png_mask(client.get(f"/api/images/{iid}/mask.png").content))
    _check_references(seg, src)
    r = client.post("/api/images", files={"file": ("y.png", png_bytes(rgb), "image/png")})
    r = client.get(f"/api/images/{r.json()['id']}/mask.dcm")
    assert r.status_code == 400 and "DICOM" in r.json()["detail"]
