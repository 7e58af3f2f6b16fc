"""The fine-tune job of a workspace server on real ISIC 2017 validation images: ``POST
/api/workspace/finetune`` runs in the background while the server answers, ``GET`` shows its progress, a
second start is 409, the result is gated; ``POST /api/workspace/models/{version}/current`` switches the
automatic model (and back), re-computing only the masks of images not yet reviewed; bad data is a clear
400 or a failed job, and the current model stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dermaseg.workspace.store import Workspace
from dermaseg.workspace.versions import current_version
from tests.workspace.test_finetune_loop import IMAGES, make_workspace

pytestmark = [pytest.mark.skipif(not IMAGES.is_dir(), reason="needs ../shared/data/isic2017"), pytest.mark.slow]


def _wait(c, pred, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:g} s")


def _rows(c) -> dict[str, dict]:
    return {r["id"]: r for r in c.get("/api/workspace/images").json()}


def test_finetune_job_progress_409_and_model_switch(make_client, tmp_path):
    ws_dir = make_workspace(tmp_path, n_images=7, n_approved=4)  # 4 approved, 1 edited, 1 skipped, 1 auto
    c = make_client(workspace=ws_dir)
    _wait(c, lambda: all(r["model_version"] == "default" for r in _rows(c).values()), "automatic masks")
    assert c.get("/api/workspace/finetune").json()["state"] == "idle"
    masks = {i: (ws_dir / "masks" / f"{i}.png").read_bytes() for i, r in _rows(c).items() if r["status"] != "auto"
             and r["status"] != "skipped"}

    r = c.post("/api/workspace/finetune", json={"epochs": 1})
    assert r.status_code == 202 and r.json()["state"] == "running" and r.json()["approved"] == 4
    again = c.post("/api/workspace/finetune", json={"epochs": 1})
    assert again.status_code == 409 and "already running" in again.json()["detail"]
    seen, answered = [], 0
    while True:  # the server keeps answering while it trains
        s = c.get("/api/workspace/finetune").json()
        seen.append(s)
        if s["state"] != "running":
            break
        answered += c.get("/api/workspace").status_code == 200
        assert len(seen) < 2000, "the job did not finish"
        time.sleep(0.1)
    assert s["state"] == "done", s
    assert answered >= 1 and any(x.get("stage") == "train" for x in seen)
    fr = [x["fraction"] for x in seen]
    assert fr == sorted(fr) and fr[-1] == 1.0
    # 4 approved images: all trained on, none left to check it, so the gate keeps the current model
    assert s["version"] == "v1" and s["gate"]["accepted"] is False and s["gate"]["n"] == 0
    assert "cannot be checked" in s["gate"]["reason"] and s["current"] == "default"
    assert s["current_model"] == "default" and current_version(ws_dir / "models") == "default"
    assert (ws_dir / "models" / "v1" / "model.pt").is_file()
    assert [(m["version"], m["current"]) for m in c.get("/api/workspace/models").json()] == \
        [("default", True), ("v1", False)]

    engine = c.app.state.engine
    for target in ("v1", "default"):  # make v1 current, then roll back
        r = c.post(f"/api/workspace/models/{target}/current")
        assert r.status_code == 200 and r.json()["version"] == target
        assert c.get("/api/workspace").json()["model_version"] == target and engine.auto_version == target
        rows = _wait(c, lambda t=target: (lambda rs: rs if [r["model_version"] for r in rs.values()
                                                             if r["status"] == "auto"] == [t] else None)(_rows(c)),
                     f"the automatic mask with {target}")
        for i, row in rows.items():  # reviewed images: their masks and automatic masks untouched
            if row["status"] != "auto":
                assert row["model_version"] == "default" and row["version"] == 1
                if i in masks:
                    assert (ws_dir / "masks" / f"{i}.png").read_bytes() == masks[i]
    r = c.post("/api/workspace/models/v9/current")
    assert r.status_code == 400 and "no such model version" in r.json()["detail"]
    assert current_version(ws_dir / "models") == "default"
    with Workspace.open(ws_dir) as ws:
        acts = [(e["action"], e["detail"].get("version")) for e in ws.log() if e["action"] in ("finetune", "model")]
    assert acts == [("finetune", "v1"), ("model", "v1"), ("model", "default")]


def test_bad_data_is_a_clear_error_and_the_model_stays(make_client, tmp_path):
    few = make_workspace(tmp_path / "few", n_images=5, n_approved=3)
    c = make_client(workspace=few, auto_background=False)
    r = c.post("/api/workspace/finetune")
    assert r.status_code == 400 and "3 approved image(s)" in r.json()["detail"] and "at least 4" in r.json()["detail"]
    assert c.get("/api/workspace/finetune").json()["state"] == "idle"
    assert not (few / "models").exists() or not any((few / "models").iterdir())

    bad = make_workspace(tmp_path / "bad", n_images=6, n_approved=4)
    with Workspace.open(bad) as ws:  # an approved image whose file is no image any more
        victim = ws.images(status="approved")[1]
        path = Path(ws.image_path(victim))
    tmp = path.with_name("x.part")
    tmp.write_bytes(b"not an image")
    os.replace(tmp, path)  # not through the hard link: the input folder keeps its image
    c = make_client(workspace=bad, auto_background=False)
    assert c.post("/api/workspace/finetune", json={"epochs": 1}).status_code == 202
    s = _wait(c, lambda: (lambda s: s if s["state"] != "running" else None)(c.get("/api/workspace/finetune").json()),
              "the job")
    assert s["state"] == "failed" and victim["id"] in s["error"] and "\n" not in s["error"]
    assert s["current_model"] == "default" and current_version(bad / "models") == "default"
    left = sorted(p.name for p in (bad / "models").iterdir())
    assert left == []  # no version, no work folder, no lock
    assert c.app.state.engine.auto_version == "default"
