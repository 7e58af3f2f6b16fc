// node --test tests/js/: the pointer tools on an image record (static/tools.js) and its undo/redo history
// (static/state.js), without a browser: a brush stroke paints the mask and is saved once, the eraser
// clears, undo and redo walk the history, a new edit clears the redo stack, a box or a point becomes a
// prompt (one decimal) and a prompt the page's rule refuses never reaches the server.
import assert from "node:assert/strict";
import { test } from "node:test";

import { area } from "../../src/dermaseg/serve/static/mask.js";
import { RULES } from "../../src/dermaseg/serve/static/prompts.js";
import { UNDO_LIMIT, blankRec, createState, redo, resetAuto, undo } from "../../src/dermaseg/serve/static/state.js";
import { createTools, createUi } from "../../src/dermaseg/serve/static/tools.js";

function setup(w = 10, h = 8) {
  const S = createState(), UI = createUi();
  const rec = blankRec(S, { id: "a", name: "a.jpg", status: "ready", width: w, height: h });
  rec.mask = new Uint8Array(w * h);
  rec.auto = { mask: rec.mask.slice() };
  S.images.push(rec); S.current = 0;
  const calls = { draw: 0, saved: [], prompts: [], errors: [], ruler: 0 };
  const tools = createTools({
    S, UI, draw: () => calls.draw++, updatePanels: () => {}, rulerDone: () => calls.ruler++,
    syncMask: (r) => calls.saved.push(r.mask.slice()), runPrompt: (r, t0) => calls.prompts.push([structuredClone(r.prompts), t0]),
    fail: (e) => calls.errors.push(e.message),
  });
  return { S, UI, rec, calls, tools };
}
const left = { button: 0, shiftKey: false, altKey: false };
const rows = (m, w) => Array.from({ length: m.length / w }, (_, y) => Array.from(m.slice(y * w, (y + 1) * w)).join(""));

test("brush: a stroke paints discs along the drag, is one undo step and is saved once, on release", () => {
  const { S, UI, rec, calls, tools } = setup();
  S.tool = "brush"; S.brush = 2;  // diameter in image pixels: radius 1
  tools.down(rec, { x: 1.5, y: 2.5 }, left, 0);
  assert.ok(UI.painting);
  tools.move(rec, { x: 5.5, y: 2.5 });
  assert.equal(calls.saved.length, 0);  // not while painting
  tools.up(rec, 0);
  assert.equal(UI.painting, null);
  assert.deepEqual(rows(rec.mask, 10).slice(1, 4), ["0111110000", "1111111000", "0111110000"]);
  assert.equal(rec.kind, "edit");
  assert.equal(calls.saved.length, 1);
  assert.deepEqual(calls.saved[0], rec.mask);
  assert.equal(rec.undo.length, 1);
  assert.equal(area(rec.undo[0].mask), 0);
});

test("eraser, undo and redo: each step returns the exact mask, a new edit clears redo", () => {
  const { S, rec, tools } = setup();
  S.tool = "brush"; S.brush = 3;
  tools.down(rec, { x: 4.5, y: 4.5 }, left, 0); tools.up(rec, 0);
  const painted = rec.mask.slice();
  S.tool = "eraser"; S.brush = 2;
  tools.down(rec, { x: 4.5, y: 4.5 }, left, 0); tools.up(rec, 0);
  const erased = rec.mask.slice();
  assert.equal(area(painted) - area(erased), 5);  // the radius-1 disc: the pixel and its 4 neighbours
  assert.equal(erased[4 * 10 + 4], 0);
  const v = rec.maskVersion;
  assert.ok(undo(rec));
  assert.deepEqual(rec.mask, painted);
  assert.ok(rec.maskVersion > v);  // a new version: redrawn and saved
  assert.ok(undo(rec));
  assert.equal(area(rec.mask), 0);
  assert.equal(undo(rec), false);  // nothing left
  assert.ok(redo(rec));
  assert.deepEqual(rec.mask, painted);
  assert.equal(rec.redo.length, 1);
  S.tool = "brush"; tools.down(rec, { x: 0.5, y: 0.5 }, left, 0); tools.up(rec, 0);  // a new edit
  assert.equal(rec.redo.length, 0);
  assert.equal(redo(rec), false);
  assert.ok(undo(rec));
  assert.deepEqual(rec.mask, painted);
});

test("right button with the brush erases; reset brings the automatic mask back as an undoable edit", () => {
  const { S, rec, tools } = setup();
  rec.mask.fill(1); rec.auto.mask.fill(1); rec.auto.mask[0] = 0;
  S.tool = "brush"; S.brush = 2;
  tools.down(rec, { x: 5.5, y: 3.5 }, { ...left, button: 2 }, 0); tools.up(rec, 0);
  assert.equal(area(rec.mask), 80 - 5);
  assert.ok(resetAuto(rec));
  assert.deepEqual(rec.mask, rec.auto.mask);
  assert.notEqual(rec.mask, rec.auto.mask);  // a copy: painting it leaves the automatic mask alone
  assert.equal(rec.kind, "auto");
  assert.ok(undo(rec));
  assert.equal(area(rec.mask), 75);
});

test("the history keeps the last UNDO_LIMIT edits", () => {
  const { S, rec, tools } = setup();
  S.tool = "brush"; S.brush = 1;
  for (let i = 0; i < UNDO_LIMIT + 5; i++) { tools.down(rec, { x: (i % 10) + 0.5, y: 0.5 }, left, 0); tools.up(rec, 0); }
  assert.equal(rec.undo.length, UNDO_LIMIT);
});

test("box and points become the prompt, rounded to 0.1 px; undo brings the previous prompt back", () => {
  const { S, rec, calls, tools } = setup(100, 80);
  S.tool = "box";
  tools.down(rec, { x: 10.04, y: 12.36 }, left, 5);
  tools.move(rec, { x: 150, y: 50.55 });  // dragged past the right edge: clamped to x = 99
  tools.up(rec, 7);
  assert.deepEqual(calls.prompts[0], [{ box: [10, 12.4, 99, 50.6], points: [], labels: [] }, 7]);
  S.tool = "pos";
  tools.down(rec, { x: 40.26, y: 30 }, left, 8);
  tools.down(rec, { x: 41, y: 31 }, { ...left, shiftKey: true }, 9);  // Shift: background
  assert.deepEqual(calls.prompts[2][0], { box: [10, 12.4, 99, 50.6], points: [[40.3, 30], [41, 31]], labels: [1, 0] });
  undo(rec);
  assert.deepEqual(rec.prompts.points, [[40.3, 30]]);
  tools.down(rec, { x: -1, y: 5 }, left, 10);  // off the image: ignored
  assert.equal(calls.prompts.length, 3);
  S.tool = "box";
  tools.down(rec, { x: 20, y: 20 }, left, 11); tools.move(rec, { x: 21.5, y: 40 }); tools.up(rec, 12);  // 1.5 px wide
  assert.equal(calls.prompts.length, 3);  // too small to be meant
  assert.deepEqual(calls.errors, []);
});

test("a point beyond the server's limit is refused in the page, with the server's words", () => {
  const { S, rec, calls, tools } = setup(50, 50);
  const saved = RULES.maxPoints;
  RULES.maxPoints = 2;
  try {
    S.tool = "pos";
    for (const x of [5, 6, 7]) tools.down(rec, { x, y: 5 }, left, 0);
    assert.equal(calls.prompts.length, 2);
    assert.deepEqual(calls.errors, ["at most 2 points per prompt"]);
    assert.equal(rec.prompts.points.length, 2);
  } finally { RULES.maxPoints = saved; }
});

test("ruler: the second click on the image calibrates", () => {
  const { S, UI, rec, calls, tools } = setup(50, 50);
  S.tool = "ruler";
  tools.down(rec, { x: 60, y: 5 }, left, 0);  // off the image
  assert.equal(UI.ruler.length, 0);
  tools.down(rec, { x: 5, y: 5 }, left, 0);
  tools.move(rec, { x: 70, y: 9 });
  assert.deepEqual(UI.rulerEnd, { x: 49, y: 9 });
  tools.down(rec, { x: 25, y: 5 }, left, 0);
  assert.equal(calls.ruler, 1);
  assert.deepEqual(UI.ruler, [{ x: 5, y: 5 }, { x: 25, y: 5 }]);
  tools.cancel();
  assert.deepEqual(UI.ruler, []);
});
