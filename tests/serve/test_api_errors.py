"""Every bad input gets a 4xx JSON error with a one-line message and the server goes on serving: not an
image, truncated, decompression bombs (PIL's warning and error sizes), over the upload limit (refused
while the body streams in, on a real socket), a box or point outside the image, bad JSON, unknown ids.
Also: health, models, the OpenAPI schema and /docs served without a CDN."""

from __future__ import annotations

import re
import socket

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import make_image

from ..test_io import bomb_png
from .conftest import LiveServer, png_bytes


@pytest.fixture(scope="module")
def rgb():
    return make_image(64, 80, seed=3)[0]


@pytest.fixture
def client(make_client):
    return make_client(max_upload_mb=1)


def _err(r, status, pattern):
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body["detail"], str) and "\n" not in body["detail"]
    assert re.search(pattern, body["detail"]), body["detail"]
    return body["detail"]


def test_health_models_openapi_and_offline_docs(client):
    from dermaseg import __version__
    from dermaseg.models.default import default_config

    assert client.get("/api/health").json() == {"status": "ok", "version": __version__}
    m = client.get("/api/models").json()
    # the bundled model's architecture, as its config.json names it (fpn-efficientnet-lite0, fpn-mobilenet_v2, ...)
    assert m["automatic"]["name"] == default_config()["model"]["name"] and m["automatic"]["kind"] == "cnn"
    assert m["prompted"]["name"] == "litemedsam" and m["prompted"]["kind"] == "sam"
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/health", "/api/models", "/api/images", "/api/images/{image_id}/predict",
              "/api/images/{image_id}/mask", "/api/images/{image_id}/mask.png",
              "/api/images/{image_id}/measurements", "/api/images/{image_id}", "/api/segment"):
        assert p in paths, p
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower() and "http://" not in docs and "https://" not in docs
    for asset in re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs):
        assert client.get(asset).status_code == 200, asset  # swagger-ui's js/css served from the package
    page = client.get("/").text
    assert "/static/app.js" in page and "https://" not in page
    for f in ("app.js", "api.js", "mask.js", "view.js", "panels.js", "export.js", "zip.js", "style.css"):
        assert client.get(f"/static/{f}").status_code == 200, f


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_images(client, rgb):
    def up(data, name="x.jpg"):
        return client.post("/api/images", files={"file": (name, data, "image/jpeg")})

    _err(up(b"this is not an image at all"), 400, r"^x\.jpg: cannot read image \(not an image format")
    good = png_bytes(rgb)
    _err(up(good[: len(good) // 2], "cut.png"), 400, r"^cut\.png: cannot read image \(.*truncated")
    # PIL only warns between MAX_IMAGE_PIXELS (89.5 M) and twice that; both are refused
    assert Image.MAX_IMAGE_PIXELS < 10_000 * 10_000 < 2 * Image.MAX_IMAGE_PIXELS < 14_000 * 14_000
    _err(up(bomb_png(10_000, 10_000), "bomb1.png"), 400, r"^bomb1\.png: image of 10000x10000 pixels exceeds")
    _err(up(bomb_png(14_000, 14_000), "bomb2.png"), 400, r"^bomb2\.png: .*decompression bomb")
    _err(client.post("/api/segment", files={"file": ("s.png", b"GIF89a...", "image/png")}), 400, r"^s\.png: ")
    _err(client.post("/api/images", data={"x": "1"}), 422, r"file: Field required")
    assert len(client.app.state.store) == 0 and list(client.app.state.store.dir.iterdir()) == []
    assert client.get("/api/health").status_code == 200


def test_bad_prompts_and_masks(client, rgb):
    iid = client.post("/api/images", files={"file": ("a.png", png_bytes(rgb), "image/png")}).json()["id"]
    url = f"/api/images/{iid}/predict"
    _err(client.post(url, json={"box": [100, 70, 200, 90]}), 400, r"box .* lies outside the 80x64 image")
    _err(client.post(url, json={"points": [[10, 10], [90, 5]]}), 400, r"point 90,5 lies outside the 80x64")
    _err(client.post(url, json={"points": [[10, 10]], "labels": [1, 0]}), 400, r"1 points but 2 point labels")
    _err(client.post(url, json={"points": [[10, 10]], "labels": [2]}), 422, r"^labels\.0: ")
    _err(client.post(url, json={"box": [1, 2, 3]}), 422, r"^box: ")
    _err(client.post(url, json={}), 400, r"give a box and/or points")
    _err(client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400,
         r"^invalid JSON body")
    _err(client.post(url, json={"box": [1, 2, 30, 40], "pixel_size": -1}), 422, r"pixel_size: .*greater than 0")
    murl = f"/api/images/{iid}/mask"
    _err(client.put(murl, content=png_bytes(np.zeros((10, 10), np.uint8))), 400,
         r"^mask: 10x10 pixels, but the image is 80x64")
    _err(client.put(murl, content=b""), 400, r"^mask: empty body")
    _err(client.put(murl, content=b"junk"), 400, r"^mask: cannot read image")
    _err(client.get(f"/api/images/{iid}/measurements?pixel_size=0"), 422, r"pixel_size")
    seg = {"file": ("a.png", png_bytes(rgb), "image/png")}
    _err(client.post("/api/segment", files=seg, data={"box": "1,2,3"}), 400, r"^box: expected 4 numbers")
    _err(client.post("/api/segment", files=seg, data={"points": "1,2,3"}), 400, r"^points: expected pairs")
    _err(client.post("/api/segment", files=seg, data={"box": "a,b,c,d"}), 400, r"^box: cannot read numbers")
    _err(client.post("/api/segment", files=seg, data={"points": "5,5", "labels": "3"}), 400, r"^labels: each")
    _err(client.post("/api/segment", files=seg, data={"box": "500,500,600,600"}), 400, r"lies outside")
    # the image is still there and unchanged after all that
    assert client.get(f"/api/images/{iid}").json()["mask_kind"] == "auto"


def test_unknown_ids_are_404(client):
    bad = "0123456789abcdef0123456789abcdef"
    for method, path in [("get", ""), ("get", "/mask.png"), ("get", "/image.png"), ("get", "/measurements"),
                         ("delete", ""), ("post", "/predict"), ("put", "/mask")]:
        kw = {"json": {"box": [1, 1, 5, 5]}} if method == "post" else {}
        if method == "put":
            kw = {"content": png_bytes(np.zeros((4, 4), np.uint8))}
        _err(getattr(client, method)(f"/api/images/{bad}{path}", **kw), 404, rf"^image {bad}: no such image")
    _err(client.get("/api/images/..%2F..%2Fetc/mask.png"), 404, "Not Found")  # no route: never a path


def test_upload_limit_413(client, rgb):
    big = b"\x00" * (1024 * 1024 + 100 * 1024)  # 1.1 MB against a 1 MB limit
    _err(client.post("/api/images", files={"file": ("big.png", big, "image/png")}), 413,
         r"^upload too large: the limit is 1 MB")
    _err(client.put("/api/images/abc/mask", content=big), 413, "upload too large")
    ok = png_bytes(np.random.default_rng(0).integers(0, 255, (560, 560, 3), np.uint8))  # ~0.9 MB
    assert 0.85e6 < len(ok) < 1024 * 1024
    assert client.post("/api/images", files={"file": ("ok.png", ok, "image/png")}).status_code == 201


def test_upload_limit_checked_while_streaming(make_client, auto_predictor):
    """A chunked upload without Content-Length is refused once it passes the limit: the server answers
    413 while the client still has most of its body to send."""
    from dermaseg.serve.app import create_app

    server = LiveServer(create_app(auto_predictor, None, max_upload_mb=0.5, prefetch_sam=False))
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(b"POST /api/images HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                      b"Content-Type: multipart/form-data; boundary=B\r\n\r\n")
            head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="f.png"\r\n\r\n'
            s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            chunk = b"\x00" * 65536
            sent = 0
            s.settimeout(0.05)
            reply = b""
            for _ in range(160):  # up to 10 MB, 20x the limit
                try:
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    sent += len(chunk)
                    reply += s.recv(4096)
                except (TimeoutError, BlockingIOError):
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                if reply:
                    break
            s.settimeout(20)
            while b"\r\n\r\n" not in reply:
                part = s.recv(4096)
                if not part:
                    break
                reply += part
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert sent < 3 * 1024 * 1024, sent  # refused long before the 10 MB were sent
        import urllib.request

        with urllib.request.urlopen(server.url + "/api/health", timeout=20) as r:  # still serving
            assert r.status == 200
    finally:
        server.stop()
