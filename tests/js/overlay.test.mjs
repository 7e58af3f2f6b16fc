// node --test tests/js/: the one overlay style (static/overlay.js): overlays.py's colour and width rule,
// the outline band (mask pixels within t px of background or of the border), fill mode's tint, and the
// server's values taken when given.
import assert from "node:assert/strict";
import { test } from "node:test";

import { OVERLAY, outlineBand, outlineWidth, paintOverlay, setOverlayStyle } from "../../src/dermaseg/serve/static/overlay.js";

const rows = (m, w) => Array.from({ length: m.length / w }, (_, y) => Array.from(m.slice(y * w, (y + 1) * w)).join(""));
const fromRows = (rs) => Uint8Array.from(rs.join(""), Number);

test("overlays.py's style: yellow (255, 255, 0), 1 px per 300 px of the longest side, halves to even", () => {
  assert.deepEqual(OVERLAY.rgb, [255, 255, 0]);
  assert.equal(outlineWidth(256, 192), 1);
  assert.equal(outlineWidth(600, 450), 2);
  assert.equal(outlineWidth(450, 750), 2);  // Python round(2.5) == 2
  assert.equal(outlineWidth(1050, 10), 4);  // round(3.5) == 4
  assert.equal(outlineWidth(10, 10), 1);
});

test("the band: mask pixels within t of the background or of the image's border", () => {
  const m = fromRows(["0000000", "0111110", "0111110", "0111110", "0111110", "0000000"]);
  assert.deepEqual(rows(outlineBand(m, 7, 6, 1), 7), ["0000000", "0111110", "0100010", "0100010", "0111110", "0000000"]);
  assert.deepEqual(rows(outlineBand(m, 7, 6, 2), 7), ["0000000", "0111110", "0111110", "0111110", "0111110", "0000000"]);
  const full = new Uint8Array(20).fill(1);  // touching the border: the frame is the outline
  assert.deepEqual(rows(outlineBand(full, 5, 4, 1), 5), ["11111", "10001", "10001", "11111"]);
  assert.equal(outlineBand(new Uint8Array(20), 5, 4, 1).reduce((a, b) => a + b), 0);
});

test("paintOverlay: the band in the colour, other pixels untouched (outline) or tinted (fill)", () => {
  const m = fromRows(["000", "010", "000"]);
  const d = new Uint8ClampedArray(9 * 4).fill(100);
  paintOverlay(d, m, 3, 3, "outline", 0.5);
  assert.deepEqual([...d.slice(16, 20)], [255, 255, 0, 100]);
  assert.deepEqual([...d.slice(0, 4)], [100, 100, 100, 100]);
  const m2 = fromRows(["11111", "11111", "11111", "11111", "11111"]);
  const d2 = new Uint8ClampedArray(25 * 4).fill(100);
  paintOverlay(d2, m2, 5, 5, "fill", 0.5);
  assert.deepEqual([...d2.slice(12 * 4, 12 * 4 + 3)], [178, 178, 50]);  // the centre: half-way to (255, 255, 0)
  assert.deepEqual([...d2.slice(0, 3)], [255, 255, 0]);
});

test("the server's style replaces the constant; nonsense is ignored", () => {
  const saved = { ...OVERLAY };
  try {
    setOverlayStyle({ outline_rgb: [255, 212, 0], px_per_width: 400 });
    assert.deepEqual(OVERLAY.rgb, [255, 212, 0]);
    assert.equal(outlineWidth(1000, 800), 2);  // round(2.5) == 2
    setOverlayStyle({ rgb: [300, 0, 0], px_per_width: -1 });
    assert.deepEqual(OVERLAY.rgb, [255, 212, 0]);
    assert.equal(OVERLAY.pxPerWidth, 400);
  } finally { Object.assign(OVERLAY, saved); }
});
