// node --test tests/js/: mask editing on a mask buffer (static/mask.js): the brush paints discs of image
// pixels whose centres lie within the radius, the eraser clears them, a stroke paints along its segment.
import assert from "node:assert/strict";
import { test } from "node:test";

import { area, paintDisc, paintStroke } from "../../src/dermaseg/serve/static/mask.js";

// the mask as rows of 0/1 characters
const rows = (m, w) => Array.from({ length: m.length / w }, (_, y) => Array.from(m.slice(y * w, (y + 1) * w)).join(""));

test("a disc of radius 1 is the pixel and its four neighbours; radius 1.5 the 3x3 block", () => {
  const m = new Uint8Array(25);
  paintDisc(m, 5, 5, 2.5, 2.5, 1, 1);  // centre of pixel (2, 2): neighbours at distance 1, diagonals at 1.41
  assert.deepEqual(rows(m, 5), ["00000", "00100", "01110", "00100", "00000"]);
  paintDisc(m, 5, 5, 2.5, 2.5, 1.5, 1);  // the diagonals (1.41 <= 1.5) join
  assert.deepEqual(rows(m, 5), ["00000", "01110", "01110", "01110", "00000"]);
  assert.equal(area(m), 9);
});

test("the eraser clears, and a disc at the border is clipped to the image", () => {
  const m = new Uint8Array(20).fill(1);
  paintDisc(m, 5, 4, 0.5, 0.5, 1, 0);  // top-left pixel and its two neighbours inside the image
  assert.deepEqual(rows(m, 5), ["00111", "01111", "11111", "11111"]);
  paintDisc(m, 5, 4, 4.5, 3.5, 1.5, 0);  // bottom-right 2x2 inside the image
  assert.deepEqual(rows(m, 5), ["00111", "01111", "11100", "11100"]);
  assert.equal(area(m), 13);
});

test("a stroke paints every pixel along its segment, and nothing beyond its radius", () => {
  const w = 20, h = 7, m = new Uint8Array(w * h);
  paintStroke(m, w, h, 2.5, 3.5, 16.5, 3.5, 1, 1);  // a horizontal stroke along row 3, radius 1
  const r = rows(m, w);
  assert.equal(r[3], "01111111111111111100");  // x = 2..16 and one pixel beyond each end: x = 1..17
  assert.equal(r[2], "00111111111111111000");  // the discs' upper neighbours: x = 2..16
  assert.equal(r[4], r[2]);
  assert.equal(r[1] + r[5] + r[0] + r[6], "0".repeat(4 * w));
  assert.equal(area(m), 15 + 15 + 17);
});

test("a zero-length stroke is one disc (a click of the brush)", () => {
  const a = new Uint8Array(36), b = new Uint8Array(36);
  paintStroke(a, 6, 6, 3, 3, 3, 3, 2, 1);
  paintDisc(b, 6, 6, 3, 3, 2, 1);
  assert.deepEqual(a, b);
  assert.equal(area(a), 12);  // centres (x+0.5, y+0.5) within 2 of (3, 3): 4 + 8 at distance sqrt(2.5)
});
