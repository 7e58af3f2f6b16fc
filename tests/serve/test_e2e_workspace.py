"""A workspace reviewed in a real browser (Debian's chromium through Playwright, ``serve --workspace`` on
127.0.0.1): the list from the server, lowest predicted quality first; two images reviewed (a box prompt, a
brush stroke, approve: the page then opens the next to review), the page reloaded: both approved with their
masks, in the page and through the API; a zoom to 400 % and a brush stroke there of the slider's size in image
pixels; a second client's save makes the page's next stroke stale (409): the page shows the newer mask.
Screenshots go to the test's folder and, with ``DERMASEG_SCREENSHOTS=DIR``, to DIR (docs' pictures)."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dermaseg.io import read_image, read_mask, write_png
from dermaseg.workspace.store import Workspace
from tests.compare.common import grow

from .conftest import LiveServer, png_bytes, png_mask

pytestmark = pytest.mark.slow
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "assets" / "samples"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read()


def _json(url: str):
    return json.loads(_get(url))


def _shot(page, name: str, tmp: Path) -> None:
    page.screenshot(path=str(tmp / name))
    out = os.environ.get("DERMASEG_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Image.open(tmp / name).convert("RGB").save(Path(out) / name, optimize=True)


def _client(page, x, y):
    p = page.evaluate(f"() => window.dermaseg.toClient({x}, {y})")
    return p["x"], p["y"]


def _current(page) -> dict:
    return page.evaluate("""async () => { const S = window.dermaseg.state, r = S.images[S.current];
        await r.sync; return {id: r.id, w: r.width, h: r.height, status: r.status, version: r.version,
        m: r.status === "ready" ? Array.from(r.mask) : null}; }""")


def _mask(info: dict) -> np.ndarray:
    return np.asarray(info["m"], bool).reshape(info["h"], info["w"])


def _wait_ready(page, not_id: str | None = None) -> dict:
    """The current image loaded (and, with ``not_id``, another one than that)."""
    sel = f'#image-list li.current.ready:not([data-id="{not_id}"])' if not_id else "#image-list li.current.ready"
    page.wait_for_selector(sel, timeout=120_000)
    page.wait_for_selector("#measure-table:not([data-state=updating]) td[data-key=area_px]", timeout=60_000)
    return _current(page)


def _box_and_brush(page, info: dict) -> np.ndarray:
    """A box around the middle half, then a brush stroke across the top-left corner; returns the page's mask."""
    w, h = info["w"], info["h"]
    n = page.evaluate("() => window.dermaseg.state.latencies.length")
    page.keyboard.press("b")
    page.mouse.move(*_client(page, w * 0.25, h * 0.25))
    page.mouse.down()
    page.mouse.move(*_client(page, w * 0.75, h * 0.75), steps=6)
    page.mouse.up()
    page.wait_for_function(f"() => window.dermaseg.state.latencies.length > {n}", timeout=90_000)
    page.keyboard.press("d")
    page.mouse.move(*_client(page, 10, 10))
    page.mouse.down()
    page.mouse.move(*_client(page, 40, 12), steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.dermaseg.pending() === 0", timeout=60_000)
    got = _mask(_current(page))
    assert got[10, 10] and got[12, 40]  # the stroke painted lesion there
    return got


def test_review_a_workspace_in_the_browser(auto_predictor, sam_predictor, tmp_path):
    if CHROMIUM is None:
        pytest.skip("no chromium executable on PATH")
    sync_api = pytest.importorskip("playwright.sync_api")
    from dermaseg.serve.app import create_app

    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(SAMPLES.glob("*.jpg")):
        shutil.copy(p, src / p.name)
    # a later visit of one lesion: the sample with its lesion grown by 8 px (metadata.csv's lesion_id, date)
    rgb = read_image(SAMPLES / "ISIC_0012099.jpg")
    auto_predictor.set_image(rgb)
    write_png(src / "visit2.png", grow(rgb, auto_predictor.predict().mask, 8)[0])
    meta = tmp_path / "meta.csv"
    meta.write_text("image_id,lesion_id,date\nISIC_0012099,L7,2024-02-01\nvisit2,L7,2024-11-20\n")
    Workspace.init(tmp_path / "ws", [src], pixel_size=0.02, metadata=meta).close()
    server = LiveServer(create_app(auto_predictor, sam_predictor, workspace=tmp_path / "ws", prefetch_sam=False))
    api = server.url + "/api"
    try:
        with sync_api.sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = b.new_page(viewport={"width": 1280, "height": 720})
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text))
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/", timeout=60_000)
            page.locator("#ws-note", has_text="Workspace ws").wait_for(timeout=60_000)

            # the list: four images to review, lowest predicted quality first; the page opens the first
            first = _wait_ready(page)
            rows = _json(api + "/workspace/images?order=quality")
            assert [r["id"] for r in rows] == page.eval_on_selector_all("#image-list li", "els => els.map(e => e.dataset.id)")
            assert first["id"] == rows[0]["id"]
            qs = [r["predicted_quality"] for r in rows]
            assert qs == sorted(qs) and all(q is not None for q in qs)
            assert page.locator("#image-list li .quality").first.text_content() == f"q {qs[0]:.2f}"

            # the timeline of a lesion's visits (compare/timeline.py through /api/images/{id}/timeline)
            page.click('#image-list li[data-id="ISIC_0012099"]')
            page.wait_for_selector("#timeline:not([hidden]) ol.timeline li.cmp", timeout=120_000)
            t = _json(api + "/images/ISIC_0012099/timeline")
            assert [v["id"] for v in t["visits"]] == ["ISIC_0012099", "visit2"]
            (c,) = t["comparisons"]
            assert c["status"] == "compared" and c["change"]["area_mm2"] > 0
            flag = page.get_attribute("#timeline li.cmp", "data-flag")
            assert flag == ("changed" if c["changed"] else "unchanged")
            assert f"area +{c['change']['area_mm2']:.2f} mm²" in page.text_content("#timeline li.cmp")
            assert page.text_content("#timeline-head") == "Lesion L7: 2 visits"
            _shot(page, "workspace_timeline.png", tmp_path)
            page.click('#timeline li.visit[data-id="visit2"] button')  # opens the later visit
            page.wait_for_selector('#image-list li.current.ready[data-id="visit2"]', timeout=60_000)
            page.wait_for_selector('#timeline li.visit.current[data-id="visit2"]', timeout=60_000)

            # 1280x720: the toolbar in at most two rows, the session export above the fold, names not cut
            assert page.locator(".toolbar").bounding_box()["height"] < 90
            export = page.locator("#export-session").bounding_box()
            assert export["y"] + export["height"] <= 720
            assert page.eval_on_selector_all("#image-list .item-name", "els => els.every(e => e.scrollWidth <= e.clientWidth)")
            # keyboard: "Open images" and the list items take the focus; Enter opens an item
            page.focus("#file-input")
            assert page.evaluate("() => document.activeElement.id") == "file-input"
            page.focus("#image-list li >> nth=1")
            page.keyboard.press("Enter")
            try:
                page.wait_for_selector(f'#image-list li.current[data-id="{rows[1]["id"]}"]', timeout=20_000)
            except sync_api.TimeoutError:  # on a loaded machine the list may re-render under the first key press
                page.focus("#image-list li >> nth=1")
                page.keyboard.press("Enter")
                page.wait_for_selector(f'#image-list li.current[data-id="{rows[1]["id"]}"]', timeout=30_000)
            page.keyboard.press("n")  # next to review: back to the lowest predicted quality
            page.wait_for_selector(f'#image-list li.current.ready[data-id="{rows[0]["id"]}"]', timeout=60_000)

            # review two: box, brush, approve (A): the page opens the next to review
            reviewed = {}
            for k in range(2):
                info = _wait_ready(page, not_id=reviewed and list(reviewed)[-1])
                reviewed[info["id"]] = _box_and_brush(page, info)
                if k == 0:
                    _shot(page, "workspace_review.png", tmp_path)
                page.keyboard.press("a")
                page.locator("#ws-note", has_text=f"{k + 1} approved").wait_for(timeout=30_000)
            _wait_ready(page, not_id=list(reviewed)[-1])
            page.click("#ws-filters [data-filter=all]")
            page.wait_for_selector('#image-list li[data-review="approved"] >> nth=1', timeout=30_000)
            _shot(page, "workspace_list.png", tmp_path)

            # reload: the server is the truth
            page.reload()
            page.locator("#ws-note", has_text="2 approved · 2 to review").wait_for(timeout=60_000)
            page.click("#ws-filters [data-filter=approved]")
            page.wait_for_selector('#image-list li[data-review="approved"] >> nth=1', timeout=30_000)
            assert sorted(page.eval_on_selector_all('#image-list li[data-review="approved"]', "els => els.map(e => e.dataset.id)")) == sorted(reviewed)
            for iid, mask in reviewed.items():
                page.click(f'#image-list li[data-id="{iid}"]')
                page.wait_for_selector(f'#image-list li.current.ready[data-id="{iid}"]', timeout=60_000)
                assert np.array_equal(_mask(_current(page)), mask)  # the page shows the saved mask
                assert np.array_equal(png_mask(_get(f"{api}/images/{iid}/mask.png")), mask)  # the API too
                assert page.text_content("#review-state").startswith("approved")
            for iid, mask in reviewed.items():
                assert _json(f"{api}/images/{iid}")["status"] == "approved"
                assert np.array_equal(read_mask(tmp_path / "ws" / "masks" / f"{iid}.png"), mask)  # on disk

            # a typed pixel size is the workspace's default, kept by the server
            page.fill("#pixel-size", "0.01")
            page.click("#pixel-form button[type=submit]")
            page.locator("#pixel-source", has_text="workspace").wait_for(timeout=30_000)
            area_px = int(_mask(_current(page)).sum())
            page.wait_for_function(f"() => {{ const r = window.dermaseg.state.images[window.dermaseg.state.current]; "
                                   f"return r.measurements && Math.abs(r.measurements.area_mm2 - {area_px * 1e-4}) < 1e-9; }}",
                                   timeout=30_000)
            assert _json(api + "/workspace")["pixel_size"] == 0.01

            # zoom to 400 % (keys zoom about the centre) and paint there: the size is in image pixels
            iid = list(reviewed)[-1]
            info = _current(page)
            before = _mask(info)
            cx, cy = info["w"] // 2 + 0.5, info["h"] // 2 + 0.5
            page.evaluate("() => { const e = document.getElementById('brush-size'); e.value = '6'; "
                          "e.dispatchEvent(new Event('input')); }")
            page.keyboard.press("e" if before[int(cy), int(cx)] else "d")  # a line of the other kind
            page.keyboard.press("1")  # 100 %: one image pixel per CSS pixel
            assert round(page.evaluate("() => window.dermaseg.zoom()")) == 100
            for _ in range(4):
                page.keyboard.press("+")  # x sqrt(2) each
            zoom = page.evaluate("() => window.dermaseg.zoom()")
            assert round(zoom) == 400, zoom
            assert page.text_content("#zoom-val") == f"{round(zoom)} %"
            page.mouse.move(*_client(page, cx - 20, cy))
            page.mouse.down()
            page.mouse.move(*_client(page, cx + 20, cy), steps=8)
            page.mouse.up()
            page.wait_for_function("() => window.dermaseg.pending() === 0", timeout=60_000)
            after = _mask(_current(page))
            changed = np.argwhere(before != after)
            assert len(changed) and after[int(cy), int(cx)] != before[int(cy), int(cx)]
            assert changed[:, 0].max() - changed[:, 0].min() <= 7  # 6 image px across, at any zoom
            assert np.array_equal(png_mask(_get(f"{api}/images/{iid}/mask.png")), after)
            _shot(page, "workspace_zoom.png", tmp_path)

            # another reviewer saves first: the page's next stroke is stale, and the page shows theirs
            theirs = np.zeros_like(after)
            theirs[: info["h"] // 2] = True
            version = _json(f"{api}/images/{iid}")["version"]
            req = urllib.request.Request(f"{api}/images/{iid}/mask", data=png_bytes(theirs.astype(np.uint8) * 255),
                                         method="PUT", headers={"Content-Type": "image/png", "If-Match": str(version)})
            urllib.request.urlopen(req, timeout=60).read()
            page.mouse.move(*_client(page, cx, cy + 30))
            page.mouse.down()
            page.mouse.move(*_client(page, cx + 10, cy + 30), steps=3)
            page.mouse.up()
            page.locator(".toast", has_text="showing the newer mask").wait_for(timeout=60_000)
            page.wait_for_function("() => window.dermaseg.pending() === 0", timeout=60_000)
            assert np.array_equal(_mask(_current(page)), theirs)
            assert np.array_equal(png_mask(_get(f"{api}/images/{iid}/mask.png")), theirs)  # not overwritten

            # leaving in the middle of a stroke asks first (the page's beforeunload handler cancels)
            leave = ("() => { const e = new Event('beforeunload', {cancelable: true}); window.dispatchEvent(e); "
                     "return e.defaultPrevented; }")
            assert page.evaluate(leave) is False  # everything saved: no question
            page.keyboard.press("d")
            page.mouse.move(*_client(page, cx, cy - 30))
            page.mouse.down()
            page.mouse.move(*_client(page, cx + 10, cy - 30), steps=3)
            assert page.evaluate(leave) is True
            page.mouse.up()
            page.wait_for_function("() => window.dermaseg.pending() === 0", timeout=60_000)
            assert page.evaluate(leave) is False
            assert not [m for m in console if "Content Security Policy" in m], console
            assert not errors, errors
            b.close()
    finally:
        server.stop()
