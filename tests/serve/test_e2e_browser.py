"""The browser app end to end: ``dermaseg serve --port 0`` in a subprocess on 127.0.0.1, Debian's chromium
driven by Playwright (never a downloaded browser). Upload a real dermoscopic image (plus an EXIF-rotated
JPEG and a TIFF), wait for the automatic mask and the SAM embedding, draw a box, click, paint with the
brush, undo, calibrate a ruler, export, and check the downloaded files' pixels against the server's mask;
screenshots at laptop and tablet sizes go to a temporary folder and, with ``DERMASEG_SCREENSHOTS=DIR``,
to DIR as well (README's picture). Skips only when no chromium executable or no Playwright is found."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.overlays import OUTLINE_RGB, outline

from .conftest import png_mask

pytestmark = pytest.mark.slow

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SAMPLE = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "assets" / "samples" / "ISIC_0012099.jpg"
RULER_ENDS = ((202.0, 137.0), (123.0, 177.0))  # 8 ticks (mm) of the ruler printed in the sample image


@pytest.fixture(scope="module")
def server():
    """A real ``dermaseg serve`` process; yields its URL; checks its temp folder is gone after SIGTERM."""
    before = set(Path(tempfile.gettempdir()).glob("dermaseg-serve-*"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(SAMPLE.parents[3]), os.environ.get("PYTHONPATH", "")] if p)}
    proc = subprocess.Popen([sys.executable, "-m", "dermaseg", "serve", "--port", "0", "--threads", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url, lines = None, []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"dermaseg serve: (http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail("dermaseg serve did not print its URL:\n" + "".join(lines))
    import threading

    drain = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # the server's log
    drain.start()
    yield url
    proc.terminate()
    proc.wait(30)
    drain.join(10)
    log = "".join(lines)
    print("\n--- dermaseg serve log (tail) ---\n" + log[-3000:])
    assert proc.returncode in (0, -15), log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert set(Path(tempfile.gettempdir()).glob("dermaseg-serve-*")) <= before  # removed on shutdown


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium executable on PATH (Debian: apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def _shot(page, name: str, tmp: Path, full_page: bool = False, readme: bool = False) -> None:
    """A screenshot in ``tmp``; README's (``readme``) also to $DERMASEG_SCREENSHOTS (RGB, optimised)."""
    page.screenshot(path=str(tmp / name), full_page=full_page)
    out = os.environ.get("DERMASEG_SCREENSHOTS")
    if out and readme:
        Path(out).mkdir(parents=True, exist_ok=True)
        Image.open(tmp / name).convert("RGB").save(Path(out) / name, optimize=True)


def _page_mask(page) -> np.ndarray:
    info = page.evaluate("""async () => { const S = window.dermaseg.state, r = S.images[S.current];
        await r.sync; return {w: r.width, h: r.height, m: Array.from(r.mask)}; }""")
    return np.asarray(info["m"], bool).reshape(info["h"], info["w"])


def _server_mask(server, page) -> np.ndarray:
    iid = page.evaluate("() => { const S = window.dermaseg.state; return S.images[S.current].id; }")
    return png_mask(_get(f"{server}api/images/{iid}/mask.png"))


def _client(page, x, y):
    p = page.evaluate(f"() => window.dermaseg.toClient({x}, {y})")
    return p["x"], p["y"]


def _rotated_jpeg(tmp: Path) -> Path:
    """A 40x30 JPEG stored sideways with EXIF orientation 6 (display rotated 90 degrees clockwise)."""
    a = np.zeros((30, 40, 3), np.uint8)
    a[:, :20] = (200, 60, 40)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6
    p = tmp / "sideways.jpg"
    im.save(p, exif=exif.tobytes(), quality=95)
    return p


def _dicom_upload(tmp: Path) -> Path | None:
    """The sample as a DICOM file (tests/dicom/make.py), or None without pydicom and highdicom."""
    try:
        import highdicom  # noqa: F401
        import pydicom  # noqa: F401
    except ImportError:
        return None
    from dermaseg.io import read_image
    from tests.dicom.make import make_dicom

    return make_dicom(read_image(SAMPLE), tmp / "lesion_dicom.dcm", "rgb")


def test_browser_segment_refine_correct_measure_export(server, browser, tmp_path):
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.wait_for_function("() => document.getElementById('models').textContent.includes('litemedsam')")
    _shot(page, "serve_empty.png", tmp_path)
    assert page.is_visible("#empty-hint")  # the hint to open images, until one is open
    page.locator("#ws-note", has_text="Ephemeral session: nothing is kept").wait_for(timeout=30_000)  # no workspace

    tif = tmp_path / "lesion.tif"
    Image.open(SAMPLE).save(tif)
    page.set_input_files("#file-input", [str(SAMPLE), str(_rotated_jpeg(tmp_path)), str(tif)])
    page.wait_for_selector(".item.current[data-status=ready]", timeout=120_000)
    assert page.is_hidden("#empty-hint")
    # the automatic mask is drawn at once and equals the server's
    auto = _page_mask(page)
    assert auto.shape == (192, 256) and auto.sum() > 200
    assert np.array_equal(auto, _server_mask(server, page))
    page.wait_for_selector(".item[data-status=ready] >> nth=2", timeout=120_000)
    dims = page.evaluate("() => window.dermaseg.state.images.map(r => [r.width, r.height, r.bitmap.width, r.bitmap.height])")
    assert dims[1] == [30, 40, 30, 40]  # EXIF orientation applied by the server, shown as decoded
    assert dims[2] == [256, 192, 256, 192]  # TIFF displayed
    page.wait_for_selector(".item.current[data-sam=ready]", timeout=180_000)
    assert "prompts are instant" in page.text_content("#sam-state")

    # box: drag around the lesion
    ys, xs = np.nonzero(auto)
    box = (xs.min() - 6, ys.min() - 6, xs.max() + 6, ys.max() + 6)
    page.keyboard.press("b")
    page.mouse.move(*_client(page, box[0], box[1]))
    page.mouse.down()
    page.mouse.move(*_client(page, box[2], box[3]), steps=6)
    page.mouse.up()
    page.wait_for_function("() => window.dermaseg.state.latencies.length === 1", timeout=60_000)
    boxed = _page_mask(page)
    assert np.array_equal(boxed, _server_mask(server, page)) and boxed.sum() > 200
    assert 2 * (boxed & auto).sum() / (boxed.sum() + auto.sum()) > 0.6  # the same lesion

    # clicks: lesion and background points, each answered from the cached embedding
    page.keyboard.press("p")
    cx, cy = float(xs.mean()), float(ys.mean())
    for i, (x, y) in enumerate([(cx, cy), (cx + 3, cy - 2), (20.0, 20.0)]):
        if i == 2:
            page.keyboard.press("k")
        page.mouse.click(*_client(page, x, y))
        page.wait_for_function(f"() => window.dermaseg.state.latencies.length === {i + 2}", timeout=60_000)
    clicked = _page_mask(page)
    assert np.array_equal(clicked, _server_mask(server, page))
    latencies = page.evaluate("() => window.dermaseg.state.latencies")
    measures = page.evaluate("() => performance.getEntriesByName('dermaseg:prompt-to-mask').map(e => e.duration)")
    assert len(measures) == 4
    print(f"\nprompt-to-drawn-mask latency in the browser (ms): {[round(v) for v in latencies]}")

    # brush: paint a stroke away from the lesion, then undo it
    page.keyboard.press("d")
    before = _page_mask(page)
    page.mouse.move(*_client(page, 30, 150))
    page.mouse.down()
    page.mouse.move(*_client(page, 70, 160), steps=8)
    page.mouse.up()
    painted = _page_mask(page)
    line = [(round(150 + (x - 30) / 4), x) for x in range(32, 69)]  # pixels on the stroke's path
    assert painted.sum() > before.sum() + 50 and all(painted[yx] for yx in line)
    assert np.array_equal(painted, _server_mask(server, page))  # PUT back to the server
    page.keyboard.press("Control+z")
    assert np.array_equal(_page_mask(page), before)
    assert np.array_equal(_server_mask(server, page), before)
    page.keyboard.press("Control+Shift+z")
    assert np.array_equal(_page_mask(page), painted)
    page.keyboard.press("Control+z")

    # ruler calibration: two clicks, a length in mm -> the pixel size
    page.keyboard.press("r")
    for x, y in RULER_ENDS:
        page.mouse.click(*_client(page, x, y))
    page.fill("#ruler-mm", "8")
    page.click("#ruler-form button[type=submit]")
    ps = page.evaluate("() => { const S = window.dermaseg.state; return S.images[S.current].pixelSize; }")
    (x0, y0), (x1, y1) = RULER_ENDS
    assert ps == pytest.approx(8 / np.hypot(x1 - x0, y1 - y0), rel=0.02)
    page.wait_for_function("() => document.querySelector('#measure-table td[data-key=area_px]').textContent.includes('mm²')")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    _shot(page, "serve_app.png", tmp_path, readme=True)

    # exports: the mask PNG equals the server's current mask, 0/255 at the image's size
    iid = page.evaluate("() => { const S = window.dermaseg.state; return S.images[S.current].id; }")
    assert page.is_disabled("#export-dicom")  # not a DICOM image: no DICOM SEG
    with page.expect_download() as dl:
        page.click("#export-mask")
    mask_file = tmp_path / "mask.png"
    dl.value.save_as(mask_file)
    assert dl.value.suggested_filename == "ISIC_0012099_mask.png"
    exported = png_mask(mask_file.read_bytes())
    assert np.array_equal(exported, before) and exported.shape == (192, 256)
    with page.expect_download() as dl:
        page.click("#export-overlay")
    overlay = np.asarray(Image.open(io.BytesIO(Path(dl.value.path()).read_bytes())).convert("RGB"))
    # the one overlay style: dermaseg segment's (overlays.py) yellow outline band, the image elsewhere
    shown = np.asarray(Image.open(io.BytesIO(_get(f"{server}api/images/{iid}/image.png"))).convert("RGB"))
    band = outline(before, thickness=1)
    assert overlay.shape == (192, 256, 3) and band.sum() > 50
    assert np.array_equal((overlay == OUTLINE_RGB).all(-1), band)
    assert np.abs(overlay[~band].astype(int) - shown[~band]).max() <= 2
    with page.expect_download() as dl:
        page.click("#export-json")
    rec = json.loads(Path(dl.value.path()).read_text())
    assert rec["image"] == "ISIC_0012099.jpg" and rec["pixel_size_mm"] == pytest.approx(ps)
    m = rec["measurements"]  # the library's measurements of the exported mask, in mm after calibration
    assert m["area_px"] == int(before.sum()) and m["area_mm2"] == pytest.approx(before.sum() * ps**2)
    assert m["diameter_mm"] == pytest.approx(m["diameter_px"] * ps) and m["n_colours"] >= 1
    with page.expect_download() as dl:
        page.click("#export-csv")
    csv_text = Path(dl.value.path()).read_text()
    assert csv_text.startswith("image,width,height,pixel_size_mm,") and "ISIC_0012099.jpg,256,192," in csv_text

    # a DICOM image: its DICOM SEG button downloads the server's mask.dcm, which reads back to its mask
    dicom = _dicom_upload(tmp_path)
    if dicom is not None:
        from tests.dicom.test_dicom_seg import _check_references, _read_back

        page.set_input_files("#file-input", [str(dicom)])
        page.wait_for_selector(".item[data-status=ready] >> nth=3", timeout=120_000)
        page.click("#image-list li >> nth=3")
        page.wait_for_selector("#export-dicom:not([disabled])", timeout=30_000)
        with page.expect_download() as dl:
            page.click("#export-dicom")
        assert dl.value.suggested_filename == "lesion_dicom_seg.dcm"
        dl.value.save_as(tmp_path / "seg.dcm")
        seg, got = _read_back(tmp_path / "seg.dcm")
        assert np.array_equal(got, _server_mask(server, page)) and got.sum() > 200
        _check_references(seg, dicom)
    with page.expect_download() as dl:
        page.click("#export-session")
    with zipfile.ZipFile(dl.value.path()) as z:
        assert z.testzip() is None
        names = z.namelist()
        assert {"ISIC_0012099_mask.png", "ISIC_0012099_overlay.png", "ISIC_0012099_measurements.json",
                "sideways_mask.png", "lesion_mask.png", "measurements.csv"} <= set(names)
        assert np.array_equal(png_mask(z.read("ISIC_0012099_mask.png")), before)
        assert len(z.read("measurements.csv").decode().strip().splitlines()) == 4 + (dicom is not None)
        assert ("lesion_dicom_seg.dcm" in names) == (dicom is not None) and "ISIC_0012099_seg.dcm" not in names
    assert errors == []

    # tablet width, then a bad upload: its error is shown in the page, the app keeps working
    page.set_viewport_size({"width": 768, "height": 1024})
    page.wait_for_timeout(300)
    _shot(page, "serve_tablet.png", tmp_path, full_page=True)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    page.set_input_files("#file-input", [str(bad)])
    page.wait_for_selector(".toast", timeout=60_000)
    assert "notes.jpg: cannot read image" in page.text_content(".toast")
    assert page.evaluate("() => window.dermaseg.state.images.at(-1).status") == "error"
    page.close()


def test_browser_brush_stroke_survives_the_next_prompt(server, browser):
    """Edits are kept in the page: a box, a brush stroke far from the lesion, then a lesion click; the mask the
    page draws after the click (and the server's) still has every pixel of the stroke."""
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server)
    page.set_input_files("#file-input", [str(SAMPLE)])
    page.wait_for_selector(".item.current[data-sam=ready]", timeout=180_000)
    auto = _page_mask(page)
    ys, xs = np.nonzero(auto)
    page.keyboard.press("b")
    page.mouse.move(*_client(page, xs.min() - 6, ys.min() - 6))
    page.mouse.down()
    page.mouse.move(*_client(page, xs.max() + 6, ys.max() + 6), steps=6)
    page.mouse.up()
    page.wait_for_function("() => window.dermaseg.state.latencies.length === 1", timeout=60_000)
    page.keyboard.press("d")
    page.mouse.move(*_client(page, 30, 150))
    page.mouse.down()
    page.mouse.move(*_client(page, 70, 160), steps=8)
    page.mouse.up()
    line = [(round(150 + (x - 30) / 4), x) for x in range(32, 69)]  # pixels on the stroke's path
    painted = _page_mask(page)
    assert all(painted[yx] for yx in line) and not any(auto[yx] for yx in line)
    page.keyboard.press("p")  # a lesion click right after the stroke
    page.mouse.click(*_client(page, float(xs.mean()), float(ys.mean())))
    page.wait_for_function("() => window.dermaseg.state.latencies.length === 2", timeout=60_000)
    after = _page_mask(page)
    assert all(after[yx] for yx in line), "the brush stroke was dropped by the next prompt"
    assert np.array_equal(after, _server_mask(server, page))
    assert errors == []
    page.close()
