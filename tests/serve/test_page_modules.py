"""The page's pure JavaScript modules against the Python side, in Node (no browser): the exported overlay
(``static/overlay.js``) is ``overlays.draw_overlay``'s pixel for pixel (one overlay style), and the session
export's ZIP (``static/zip.js``) is read back by Python's :mod:`zipfile` with the right names, bytes and
CRCs. Skips without a ``node`` executable (tests/js/ holds the Node-only tests)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dermaseg.overlays import OUTLINE_RGB, draw_overlay, outline

NODE = shutil.which("node")
STATIC = Path(__file__).resolve().parents[2] / "src" / "dermaseg" / "serve" / "static"
pytestmark = pytest.mark.skipif(NODE is None, reason="no node executable (Debian: apt-get install -y nodejs)")


def _node(script: str, data: dict) -> dict:
    """Run an ES module ``script`` (``STATIC`` is its folder's file URL) with ``data`` as JSON on stdin."""
    prelude = (f"const STATIC = {json.dumps(STATIC.as_uri())};\n"
               "const input = JSON.parse(require_stdin());\n")
    code = ("import { readFileSync } from 'node:fs';\nconst require_stdin = () => readFileSync(0, 'utf8');\n"
            + prelude + script)
    r = subprocess.run([NODE, "--input-type=module", "-e", code], input=json.dumps(data), capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _blob_mask(h: int, w: int, seed: int) -> np.ndarray:
    """A lesion-like mask: an ellipse with a few bumps, one touching the image's border."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    m = ((xx - w * 0.45) / (w * 0.3)) ** 2 + ((yy - h * 0.5) / (h * 0.32)) ** 2 <= 1
    for _ in range(5):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2, min(h, w) / 6)
        m |= (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    m[h // 2 - 3: h // 2 + 3, w - 8:] = True  # reaches the right border
    return m


OVERLAY_SCRIPT = """
const { paintOverlay, outlineBand, outlineWidth } = await import(STATIC + "/overlay.js");
const out = {};
for (const c of input.cases) {
  const d = Uint8ClampedArray.from(c.rgba);
  paintOverlay(d, Uint8Array.from(c.mask), c.w, c.h, "outline", 0.45);
  out[c.name] = { rgba: Array.from(d), bands: input.ts.map((t) => Array.from(outlineBand(Uint8Array.from(c.mask), c.w, c.h, t))) };
}
out.widths = input.sizes.map(([w, h]) => outlineWidth(w, h));
console.log(JSON.stringify(out));
"""


def test_the_exported_overlay_is_dermaseg_segments_overlay_pixel_for_pixel():
    rng = np.random.default_rng(0)
    cases, expected = [], {}
    for name, (h, w) in {"small": (45, 60), "wide": (40, 620)}.items():  # outline 1 px and 2 px wide
        mask = _blob_mask(h, w, seed=len(name))
        rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        rgba = np.dstack([rgb, np.full((h, w), 255, np.uint8)])
        cases.append({"name": name, "w": w, "h": h, "mask": mask.astype(int).ravel().tolist(), "rgba": rgba.ravel().tolist()})
        expected[name] = (mask, draw_overlay(rgb, mask))
    sizes = [(256, 192), (600, 450), (750, 500), (1050, 700), (1350, 10), (299, 449), (4000, 3000)]
    got = _node(OVERLAY_SCRIPT, {"cases": cases, "ts": [1, 2, 3], "sizes": sizes})
    for name, (mask, want) in expected.items():
        h, w = mask.shape
        page = np.asarray(got[name]["rgba"], np.uint8).reshape(h, w, 4)
        assert np.array_equal(page[..., :3], want), name  # the same pixels as segment's <stem>_overlay.png
        assert (page[..., :3] == OUTLINE_RGB).all(-1).sum() > 50
        for t, band in zip([1, 2, 3], got[name]["bands"], strict=True):
            assert np.array_equal(np.asarray(band, bool).reshape(h, w), outline(mask, thickness=t)), (name, t)
    assert got["widths"] == [max(1, int(round(max(w, h) / 300))) for w, h in sizes]  # draw_overlay's width rule


ZIP_SCRIPT = """
const { zipBytes } = await import(STATIC + "/zip.js");
const files = input.files.map((f) => ({ name: f.name, data: Uint8Array.from(f.data) }));
console.log(JSON.stringify(Array.from(zipBytes(files, new Date(2026, 0, 31, 12, 34, 56)))));
"""


def test_the_session_zip_is_read_back_by_pythons_zipfile():
    rng = np.random.default_rng(1)
    files = {"ISIC_0012099_mask.png": rng.integers(0, 256, 3000, dtype=np.uint8).tobytes(),
             "measurements.csv": b"image,area_px\nISIC_0012099.jpg,1234\n",
             "naïve/é.json": b"{}", "empty.txt": b""}
    got = _node(ZIP_SCRIPT, {"files": [{"name": k, "data": list(v)} for k, v in files.items()]})
    with zipfile.ZipFile(io.BytesIO(bytes(got))) as z:
        assert z.testzip() is None  # every CRC checks
        assert z.namelist() == list(files)
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED and info.date_time == (2026, 1, 31, 12, 34, 56)
            assert z.read(info) == files[info.filename]
