"""kill -9 during a burst of mask saves and approvals (a subprocess): no torn PNG, no approved mask lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dermaseg.io import read_mask
from dermaseg.workspace.store import Workspace

BURST = r"""
import json, os, sys
import numpy as np
from dermaseg.workspace.store import Workspace
ws = Workspace.open(sys.argv[1])
ids = [r["id"] for r in ws.images()]
ack = open(sys.argv[2], "a")
rng = np.random.default_rng(0)
i = 0
while True:
    iid = ids[i % len(ids)]
    if ws.image(iid)["status"] != "approved":
        m = rng.random((64, 80)) < 0.5
        ws.save_mask(iid, m, user="burst")
        if i % 3 == 0:
            ws.set_status(iid, "approved", user="burst")
            ack.write(json.dumps({"id": iid, "sum": int(m.sum())}) + "\n"); ack.flush(); os.fsync(ack.fileno())
    i += 1
"""


def test_kill9_during_saves_loses_no_approved_mask(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(40):
        Image.fromarray(np.full((64, 80, 3), k * 5, np.uint8)).save(src / f"im{k:02d}.png")
    Workspace.init(tmp_path / "ws", [src]).close()
    ack = tmp_path / "ack.jsonl"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    p = subprocess.Popen([sys.executable, "-c", BURST, str(tmp_path / "ws"), str(ack)], env=env)
    deadline = time.monotonic() + 60
    while (not ack.exists() or len(ack.read_text().splitlines()) < 5) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    acked = {d["id"]: d["sum"] for d in map(json.loads, ack.read_text().splitlines())}
    assert len(acked) >= 5
    with Workspace.open(tmp_path / "ws") as ws:
        for png in (tmp_path / "ws" / "masks").glob("*.png"):
            read_mask(png)  # every mask decodes: none is torn
        for iid, total in acked.items():
            row = ws.image(iid)
            assert row["status"] == "approved"
            assert int(read_mask(ws.mask_path(iid)).sum()) == total
        assert not list((tmp_path / "ws" / "masks").glob(".*.part"))
        assert ws.counts()["approved"] >= len(acked)
