"""Fixtures for the server tests: the real models loaded once, synthetic images as upload bytes, an app
in-process, and a live uvicorn server on 127.0.0.1 (a random free port) for tests that need real HTTP."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")


@pytest.fixture(scope="session")
def auto_predictor():
    from dermaseg.inference.predictor import load_predictor

    return load_predictor("default", device="cpu")


@pytest.fixture(scope="session")
def sam_predictor():
    from dermaseg.inference.predictor import load_predictor

    return load_predictor("litemedsam", device="cpu")


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def b64_mask(s: str) -> np.ndarray:
    """The API's base64 PNG -> bool mask, checking it is one channel of 0/255."""
    a = np.asarray(Image.open(io.BytesIO(base64.b64decode(s))))
    assert a.ndim == 2 and set(np.unique(a).tolist()) <= {0, 255}
    return a == 255


def png_mask(data: bytes) -> np.ndarray:
    a = np.asarray(Image.open(io.BytesIO(data)))
    assert a.ndim == 2 and set(np.unique(a).tolist()) <= {0, 255}
    return a == 255


@pytest.fixture
def make_client(auto_predictor, sam_predictor):
    """make_client(**create_app kwargs) -> a started TestClient (lifespan run); closed after the test."""
    from fastapi.testclient import TestClient

    from dermaseg.serve.app import create_app

    clients = []

    def make(**kw):
        kw.setdefault("prefetch_sam", False)
        app = create_app(kw.pop("model", auto_predictor), kw.pop("sam", sam_predictor), **kw)
        c = TestClient(app, base_url="http://127.0.0.1")  # a loopback Host (the default allow-list)
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.__exit__(None, None, None)


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1:<free port> in a thread; ``stop()`` ends it."""

    def __init__(self, app) -> None:
        import uvicorn

        from dermaseg.serve.run import bind

        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
