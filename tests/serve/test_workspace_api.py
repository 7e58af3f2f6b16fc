"""The workspace API on real ISIC 2017 images: the automatic masks and their flags, every edit kept across a
server restart, two clients and a 409, and the review log."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from dermaseg.inference.flags import FAILURE_JACCARD, REVIEW_JACCARD
from dermaseg.io import read_mask
from dermaseg.workspace.store import Workspace
from tests.serve.conftest import b64_mask, png_bytes, png_mask

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isic2017" / "ISIC-2017_Validation_Data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="needs ../shared/data/isic2017")


@pytest.fixture
def ws_dir(tmp_path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(DATA.glob("*.jpg"))[:3]:
        shutil.copy(p, src / p.name)
    Workspace.init(tmp_path / "ws", [src], pixel_size=0.02).close()
    return tmp_path / "ws"


def _rect(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def _wait_all_predicted(c, n: int) -> list[dict]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        rows = c.get("/api/workspace/images", params={"order": "quality"}).json()
        if len(rows) == n and all(r["predicted_quality"] is not None for r in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError("automatic masks not computed in 90 s")


def test_review_is_kept_across_a_restart(make_client, ws_dir):
    c = make_client(workspace=ws_dir)
    info = c.get("/api/workspace").json()
    assert info["workspace"] is True and info["name"] == "ws" and info["pixel_size"] == 0.02
    assert info["counts"] == {"auto": 3, "edited": 0, "approved": 0, "skipped": 0}
    rows = _wait_all_predicted(c, 3)
    qs = [r["predicted_quality"] for r in rows]
    assert qs == sorted(qs)  # lowest quality first
    for r in rows:
        q = r["predicted_quality"]
        assert ("predicted-failure" in r["flags"]) == (q < FAILURE_JACCARD)
        assert ("review" in r["flags"]) == (FAILURE_JACCARD <= q < REVIEW_JACCARD)
        assert r["status"] == "auto" and r["version"] == 0 and r["reviewer"] is None
    a, b, skip = (r["id"] for r in rows)
    h, w = rows[0]["height"], rows[0]["width"]

    # a: a brush edit (PUT with the version it is based on), then approved with a note
    drawn = _rect(h, w, 40, 120, 60, 200)
    r = c.put(f"/api/images/{a}/mask", content=png_bytes(drawn.astype(np.uint8) * 255), headers={"If-Match": "0"})
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["status"]) == (1, "edited")
    assert r.json()["area_px"] == 80 * 140
    assert r.json()["measurements"]["area_mm2"] == pytest.approx(80 * 140 * 0.02 ** 2)  # the workspace default
    r = c.post(f"/api/images/{a}/status", json={"status": "approved", "note": "border checked"},
               headers={"If-Match": "1"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["version"], r.json()["note"]) == ("approved", 2, "border checked")
    # b: a prompt result is saved as it happens; approving with no If-Match approves the current mask
    r = c.post(f"/api/images/{b}/predict", json={"box": [30, 20, 220, 170]}, headers={"If-Match": "0"})
    assert r.status_code == 200, r.text
    prompted = b64_mask(r.json()["mask"])
    assert r.json()["version"] == 1 and r.json()["status"] == "edited"
    assert c.post(f"/api/images/{b}/status", json={"status": "approved"}).json()["version"] == 2
    # the third: skipped with a note, no mask of a person
    assert c.post(f"/api/images/{skip}/status", json={"status": "skipped", "note": "blurred"}).status_code == 200

    c.__exit__(None, None, None)  # the server stops
    c2 = make_client(workspace=ws_dir, auto_background=False)
    got = {r["id"]: r for r in c2.get("/api/workspace/images").json()}
    assert {k: (v["status"], v["version"], v["note"], v["reviewer"]) for k, v in got.items()} == {
        a: ("approved", 2, "border checked", "local"), b: ("approved", 2, "", "local"),
        skip: ("skipped", 1, "blurred", "local")}
    assert np.array_equal(png_mask(c2.get(f"/api/images/{a}/mask.png").content), drawn)
    assert np.array_equal(png_mask(c2.get(f"/api/images/{b}/mask.png").content), prompted)
    assert np.array_equal(read_mask(ws_dir / "masks" / f"{a}.png"), drawn)  # on disk, as a dataset reads it
    assert not (ws_dir / "masks" / f"{skip}.png").exists()  # masks/ holds only what people made
    assert (ws_dir / ".auto" / f"{skip}.png").is_file()
    assert c2.get("/api/workspace").json()["counts"] == {"auto": 0, "edited": 0, "approved": 2, "skipped": 1}
    assert [r["id"] for r in c2.get("/api/workspace/images", params={"status": "approved"}).json()] == sorted([a, b])
    log = c2.get("/api/workspace/log", params={"image": a}).json()
    assert [e["action"] for e in log] == ["add", "mask", "status"]
    assert log[-1]["detail"] == {"status": "approved", "from": "edited", "version": 2, "note": "border checked"}
    assert c2.get(f"/api/images/{a}/thumb.jpg").headers["content-type"] == "image/jpeg"
    assert c2.delete(f"/api/images/{a}").status_code == 400  # workspace images are kept


def test_two_clients_and_a_stale_write(make_client, ws_dir):
    from fastapi.testclient import TestClient

    one = make_client(workspace=ws_dir, auto_background=False)
    two = TestClient(one.app, base_url="http://127.0.0.1")  # a second browser on the same server
    image = one.get("/api/workspace/images").json()[0]
    iid, h, w = image["id"], image["height"], image["width"]
    assert one.get(f"/api/images/{iid}").json()["version"] == 0  # both open version 0
    theirs = _rect(h, w, 10, 50, 10, 50)
    mine = _rect(h, w, 100, 150, 100, 150)
    r = two.put(f"/api/images/{iid}/mask", content=png_bytes(theirs.astype(np.uint8) * 255), headers={"If-Match": "0"})
    assert r.status_code == 200 and r.json()["version"] == 1
    r = one.put(f"/api/images/{iid}/mask", content=png_bytes(mine.astype(np.uint8) * 255), headers={"If-Match": "0"})
    assert r.status_code == 409
    assert r.json()["current_version"] == 1 and "stale" in r.json()["detail"]
    r = one.post(f"/api/images/{iid}/predict", json={"box": [5, 5, 100, 100]}, headers={"If-Match": '"0"'})
    assert r.status_code == 409  # a prompt result is a write too
    r = one.post(f"/api/images/{iid}/status", json={"status": "approved"}, headers={"If-Match": "0"})
    assert r.status_code == 409
    # nothing of the stale writes landed: the page fetches and shows the newer mask
    assert np.array_equal(png_mask(one.get(f"/api/images/{iid}/mask.png").content), theirs)
    assert np.array_equal(read_mask(ws_dir / "masks" / f"{iid}.png"), theirs)
    assert one.get(f"/api/images/{iid}").json()["version"] == 1
    assert one.put(f"/api/images/{iid}/mask", content=b"x", headers={"If-Match": "one"}).status_code == 400


def test_without_a_workspace_the_server_says_nothing_is_kept(make_client):
    c = make_client()
    assert c.get("/api/workspace").json() == {"workspace": False}
    assert c.get("/api/workspace/images").status_code == 404
