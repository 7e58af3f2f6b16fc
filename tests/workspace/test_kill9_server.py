"""kill -9 of a real ``dermaseg serve --workspace`` process while clients save masks and approve over HTTP:
after the kill, every approval the server acknowledged (a 200 answer) is in the workspace with its exact mask,
no mask file is torn, no temporary file is left, and a restarted server serves the approved masks."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.io import read_mask
from dermaseg.workspace.store import Workspace

pytestmark = pytest.mark.slow
SRC = Path(__file__).resolve().parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(ws: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", "from dermaseg.cli import main; main()", "serve", "--workspace", str(ws),
           "--host", "127.0.0.1", "--port", str(port), "--sam", "none"]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise AssertionError(f"serve exited {p.returncode}: {p.stderr.read().decode()[-800:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return p
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    p.kill()
    raise AssertionError("serve did not answer /api/health within 90 s")


def _call(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers={"Origin": url.split("/api")[0],
                                                                         **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _png(mask: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return buf.getvalue()


def test_kill9_of_the_server_loses_no_acknowledged_approval(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for k in range(30):
        Image.fromarray(np.full((48, 64, 3), 40 + k * 5, np.uint8)).save(src / f"im{k:02d}.png")
    ws_dir = tmp_path / "ws"
    Workspace.init(ws_dir, [src]).close()
    port = _free_port()
    base = f"http://127.0.0.1:{port}/api"
    server = _serve(ws_dir, port)
    acked: dict[str, int] = {}
    stop = threading.Event()

    def client(offset: int) -> None:  # two clients, each on its own images: save a mask, approve it
        rng = np.random.default_rng(offset)
        code, body = _call("GET", f"{base}/workspace/images")
        ids = [r["id"] for r in json.loads(body)][offset::2]
        for iid in ids:
            if stop.is_set():
                return
            m = rng.random((48, 64)) < 0.4
            try:
                code, body = _call("PUT", f"{base}/images/{iid}/mask", _png(m), {"Content-Type": "image/png"})
                if code != 200:
                    continue
                code, _ = _call("POST", f"{base}/images/{iid}/status", json.dumps({"status": "approved"}).encode(),
                                {"Content-Type": "application/json"})
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                return  # the server was killed mid-request: nothing acknowledged
            if code == 200:
                acked[iid] = int(m.sum())

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(2)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(acked) < 6 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
            time.sleep(0.02)
        assert len(acked) >= 6, f"only {len(acked)} approvals acknowledged"
        os.kill(server.pid, signal.SIGKILL)  # in the middle of the burst
        server.wait(30)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
        for t in threads:
            t.join(30)
    kept = dict(acked)  # acknowledged before the kill (a request after it cannot have been answered)
    for png in (ws_dir / "masks").glob("*.png"):
        read_mask(png)  # every mask decodes: none is torn
    assert not list(ws_dir.rglob(".*.part")), "a temporary file was left"
    with Workspace.open(ws_dir) as ws:
        for iid, total in kept.items():
            assert ws.image(iid)["status"] == "approved", iid
            assert int(read_mask(ws.mask_path(iid)).sum()) == total, iid
    server = _serve(ws_dir, port)  # a restarted server serves them
    try:
        iid, total = next(iter(kept.items()))
        code, body = _call("GET", f"{base}/images/{iid}/mask.png")
        assert code == 200 and int((np.asarray(Image.open(io.BytesIO(body))) > 0).sum()) == total
        code, body = _call("GET", f"{base}/workspace")
        assert json.loads(body)["counts"]["approved"] >= len(kept)
    finally:
        server.kill()
        server.wait(30)
