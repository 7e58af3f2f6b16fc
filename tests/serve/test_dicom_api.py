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


def test_a_workspace_dicom_image_says_so_and_exports_its_seg(tmp_path, make_client):
    """In a workspace too: ``GET /api/images/{id}`` says ``dicom`` (the page's DICOM SEG button follows it) and
    ``mask.dcm`` answers for the DICOM image, 400 for the JPEG beside it."""
    import shutil

    from dermaseg.workspace.store import Workspace

    src = tmp_path / "in"
    src.mkdir()
    make_dicom(read_image(SAMPLE), src / "visit.dcm", "rgb")
    shutil.copy(SAMPLE, src / "plain.jpg")
    Workspace.init(tmp_path / "ws", [src]).close()
    client = make_client(workspace=tmp_path / "ws")
    rows = {r["name"]: r["id"] for r in client.get("/api/workspace/images").json()}
    dcm, jpg = rows["visit.dcm"], rows["plain.jpg"]
    assert client.get(f"/api/images/{dcm}").json()["dicom"] is True
    assert client.get(f"/api/images/{jpg}").json()["dicom"] is False
    r = client.get(f"/api/images/{dcm}/mask.dcm")
    assert r.status_code == 200 and r.headers["content-type"] == "application/dicom", r.text
    (tmp_path / "seg.dcm").write_bytes(r.content)
    _, got = _read_back(tmp_path / "seg.dcm")
    assert np.array_equal(got, png_mask(client.get(f"/api/images/{dcm}/mask.png").content))
    assert client.get(f"/api/images/{jpg}/mask.dcm").status_code == 400
