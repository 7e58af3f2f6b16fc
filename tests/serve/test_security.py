"""The attacks a security review of ``dermaseg serve`` tried, each answered with the right 4xx and nothing
leaked or changed: DNS rebinding (Host), cross-site requests (Origin/Referer), framing/sniffing (headers,
a CSP the page keeps to: no inline script or style), oversized prompts and uploads, decompression bombs,
extreme numbers on every endpoint (never a 500, never a file left), a saturated server (429 + Retry-After),
a model held past the per-request limit (503 + Retry-After)."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import numpy as np
import pytest
from PIL import Image

from dermaseg.data.synthetic import make_image
from dermaseg.serve.app import STATIC_DIR

from .conftest import png_bytes


@pytest.fixture(scope="module")
def rgb():
    return make_image(64, 80, seed=3)[0]


@pytest.fixture
def client(make_client):
    return make_client(max_upload_mb=1)


def _upload(client, rgb, **kw):
    r = client.post("/api/images", files={"file": ("a.png", png_bytes(rgb), "image/png")}, **kw)
    return r


def _files(client) -> list[str]:
    return sorted(p.name for p in client.app.state.store.dir.iterdir())


def test_host_header_allow_list(make_client):
    c = make_client()
    assert c.get("/api/health").status_code == 200
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000"):
        assert c.get("/api/health", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""):
        r = c.get("/api/health", headers={"Host": host})
        assert r.status_code == 400 and "not allowed" in r.json()["detail"], host
    assert c.get("/", headers={"Host": "evil.example"}).status_code == 400  # the page too
    c2 = make_client(allowed_hosts=["127.0.0.1", "clinic.example"])
    assert c2.get("/api/health", headers={"Host": "clinic.example:8443"}).status_code == 200
    assert c2.get("/api/health", headers={"Host": "localhost"}).status_code == 400


def test_cross_site_requests_are_refused_and_change_nothing(client, rgb):
    for hdr in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Referer": "http://evil.example/x"},
                {"Origin": "http://127.0.0.1:9999"}):  # another local site (other port)
        r = _upload(client, rgb, headers=hdr)
        assert r.status_code == 403 and "CSRF" in r.json()["detail"], hdr
    assert client.get("/api/stats").json()["images"] == 0 and _files(client) == []
    iid = _upload(client, rgb, headers={"Origin": "http://127.0.0.1"}).json()["id"]  # same origin: fine
    assert _upload(client, rgb).status_code == 201  # no Origin (curl, scripts): fine
    r = client.delete(f"/api/images/{iid}", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and client.get(f"/api/images/{iid}").status_code == 200
    r = client.post(f"/api/images/{iid}/predict", json={"box": [5, 5, 60, 50]},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and client.get(f"/api/images/{iid}").json()["mask_kind"] == "auto"
    assert client.get(f"/api/images/{iid}/mask.png", headers={"Origin": "http://evil.example"}).status_code == 200


def test_security_headers_and_a_page_without_inline_script(client):
    for path in ("/", "/api/health", "/static/app.js", "/login", "/api/images/nope"):
        h = client.get(path).headers
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", path
        assert h["referrer-policy"] == "same-origin"
        csp = h["content-security-policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    for page in ("index.html", "login.html"):
        html = (STATIC_DIR / page).read_text()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts and all("src=" in s for s in scripts), page
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html), page


def test_prompt_limits_with_plain_numbers(client, rgb):
    iid = _upload(client, rgb).json()["id"]
    url = f"/api/images/{iid}/predict"
    r = client.post(url, json={"points": [[10, 10]] * 65})
    assert r.status_code == 422 and "64" in r.json()["detail"]
    t0 = time.monotonic()
    body = json.dumps({"points": [[10.5, 10.5]] * 100_000})
    r = client.post(url, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (413, 422) and time.monotonic() - t0 < 20  # 1.3 MB: over this 1 MB server's limit
    for box in ([10, 10, 10, 40], [10, 10, 40, 10], [40, 10, 10, 40]):  # zero width/height, negative width
        r = client.post(url, json={"box": box})
        assert r.status_code == 400 and "has no area" in r.json()["detail"], box
    r = client.post(url, json={"box": [10.5, 10, 865.0, 40]})
    assert r.status_code == 400 and "box 10.5,10,865,40 lies outside the 80x64 image" in r.json()["detail"]
    assert "np." not in r.json()["detail"]
    r = client.post(url, json={"points": [[79, 63], [79.5, 10]]})  # the one point rule: 0..W-1
    assert r.status_code == 400 and r.json()["detail"].startswith("point 79.5,10 lies outside")
    assert client.post(url, json={"points": [[79, 63]]}).status_code == 200
    seg = {"file": ("a.png", png_bytes(rgb), "image/png")}
    r = client.post("/api/segment", files=seg, data={"points": ";".join(["5,5"] * 65)})
    assert r.status_code == 400 and "at most 64" in r.json()["detail"]
    limits = client.get("/api/models").json()["limits"]
    assert limits["max_points"] == 64 and limits["max_upload_bytes"] == 2**20
    assert limits["pixel_size"][0] > 0 and limits["max_pixels"] > 0


def test_upload_limit_is_exact(client, rgb):
    png = png_bytes(rgb)
    limit = 2**20
    exact = png + b"\0" * (limit - len(png))  # PNG decoders ignore bytes after IEND
    assert client.post("/api/images", files={"file": ("a.png", exact, "image/png")}).status_code == 201
    over = exact + b"\0"
    r = client.post("/api/images", files={"file": ("a.png", over, "image/png")})
    assert r.status_code == 413 and f"{limit + 1} bytes" in r.json()["detail"]
    r = client.post("/api/segment", files={"file": ("a.png", over, "image/png")})
    assert r.status_code == 413
    assert client.get("/api/stats").json()["images"] == 1


def test_one_bit_decompression_bomb_is_refused_from_its_header(make_client):
    c = make_client(max_upload_mb=5)
    buf = io.BytesIO()
    Image.new("1", (8000, 8000)).save(buf, format="PNG", optimize=True)
    assert len(buf.getvalue()) < 50_000
    t0 = time.monotonic()
    for url in ("/api/images", "/api/segment"):
        r = c.post(url, files={"file": ("bomb.png", buf.getvalue(), "image/png")})
        assert r.status_code == 400 and "exceeds the limit of 40000000 pixels" in r.json()["detail"]
    assert time.monotonic() - t0 < 5  # decoding would take seconds each
    assert _files(c) == []
    small = make_client(max_pixels=64 * 80 - 1)
    r = small.post("/api/images", files={"file": ("a.png", png_bytes(make_image(64, 80, seed=1)[0]), "image/png")})
    assert r.status_code == 400 and "exceeds the limit" in r.json()["detail"]


EXTREME = ["1e308", "-1", "NaN", "-Infinity", "-1e-300", str(10**400)]


def test_extreme_numbers_on_every_endpoint_never_500(client, rgb):
    iid = _upload(client, rgb).json()["id"]
    before = _files(client)
    png = png_bytes(rgb)
    mask = png_bytes(np.zeros((64, 80), np.uint8))
    codes = []
    for v in EXTREME:
        codes.append(client.post("/api/images", files={"file": ("a.png", png, "image/png")},
                                 data={"pixel_size": v}).status_code)
        for field in ("pixel_size", "box", "points", "labels"):
            val = {"box": f"{v},1,2,3", "points": f"{v},4", "labels": v}.get(field, v)
            codes.append(client.post("/api/segment", files={"file": ("a.png", png, "image/png")},
                                     data={field: val}).status_code)
        for body in (f'{{"box": [{v}, 1, 20, 30]}}', f'{{"box": [1, 1, 20, {v}]}}', f'{{"points": [[{v}, 5]]}}',
                     f'{{"points": [[5, 5]], "labels": [{v}]}}', f'{{"box": [1,1,20,30], "pixel_size": {v}}}'):
            codes.append(client.post(f"/api/images/{iid}/predict", content=body,
                                     headers={"Content-Type": "application/json"}).status_code)
        codes.append(client.put(f"/api/images/{iid}/mask?pixel_size={v}", content=mask).status_code)
        codes.append(client.get(f"/api/images/{iid}/measurements?pixel_size={v}").status_code)
        codes.append(client.get(f"/api/images/{v}").status_code)
    codes.append(client.get(f"/api/images/{iid}/measurements?pixel_size=1e-320").status_code)  # denormal
    assert codes and max(codes) < 500, codes
    assert sum(c >= 400 for c in codes) > len(EXTREME) * 8  # really refused, not silently accepted
    assert _files(client) == before  # no failed upload left a file
    assert client.get(f"/api/images/{iid}").json()["mask_kind"] == "auto"  # no refused request changed it
    assert all(c in (400, 404, 413, 422) for c in codes), codes


def test_saturated_server_answers_429_with_retry_after(make_client, rgb):
    c = make_client(max_active=1)
    engine = c.app.state.engine
    engine.auto_lock.acquire()  # the automatic model is busy (a long request)
    results = {}
    t = threading.Thread(target=lambda: results.setdefault("first", _upload(c, rgb)))
    t.start()
    try:
        time.sleep(1.0)  # the first upload is now waiting for the model
        r = _upload(c, rgb)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "busy" in r.json()["detail"]
        assert c.get("/api/health").status_code == 200  # light requests still answered
    finally:
        engine.auto_lock.release()
        t.join(30)
    assert results["first"].status_code == 201
    assert _upload(c, rgb).status_code == 201


def test_a_held_model_cannot_stall_other_requests_beyond_the_limit(make_client, rgb):
    c = make_client(request_timeout_s=1.0)
    iid = _upload(c, rgb).json()["id"]
    other = _upload(c, rgb).json()["id"]
    engine = c.app.state.engine
    with engine.sam_lock.urgent():  # a prompt holding the SAM model for as long as it likes
        t0 = time.monotonic()
        r = c.post(f"/api/images/{other}/predict", json={"box": [5, 5, 60, 50]})
        waited = time.monotonic() - t0
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        assert 0.9 < waited < 10
    # the huge prompt of the review (100,000 points) is refused before it reaches the model, and a
    # normal prompt on another image goes through while it is sent
    body = json.dumps({"points": [[10, 10]] * 100_000})
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("huge", c.post(
        f"/api/images/{iid}/predict", content=body, headers={"Content-Type": "application/json"})))
    t.start()
    r = c.post(f"/api/images/{other}/predict", json={"box": [5, 5, 60, 50]})
    t.join(60)
    assert r.status_code == 200 and out["huge"].status_code == 422
    assert c.get(f"/api/images/{iid}").json()["mask_kind"] == "auto"
