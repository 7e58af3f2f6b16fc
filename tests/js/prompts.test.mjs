// node --test tests/js/: the page's prompt rule (static/prompts.js), the server's (data/prompts.py
// check_user_prompt) checked before sending: points on [0, w-1] x [0, h-1], a box with area and both
// corners on the image, at most max_points points (from /api/models limits), one label per point.
import assert from "node:assert/strict";
import { test } from "node:test";

import { RULES, boxFromDrag, clampPt, inside, promptError, setRules } from "../../src/dermaseg/serve/static/prompts.js";

test("points: the image's pixel centres' range is inclusive, anything else is refused", () => {
  assert.ok(inside(256, 192, { x: 0, y: 0 }));
  assert.ok(inside(256, 192, { x: 255, y: 191 }));
  assert.ok(!inside(256, 192, { x: 255.01, y: 10 }));
  assert.ok(!inside(256, 192, { x: -0.01, y: 10 }));
  assert.ok(!inside(256, 192, { x: NaN, y: 10 }));
  assert.equal(promptError({ points: [[255, 191]], labels: [1] }, 256, 192), null);
  assert.equal(promptError({ points: [[256, 5]], labels: [1] }, 256, 192),
    "point 256,5 lies outside the 256x192 image (x in 0..255, y in 0..191)");
  assert.equal(promptError({ points: [[1, 1], [2, 2]], labels: [1] }, 256, 192), "2 points but 1 point labels");
});

test("boxes: positive area, both corners on the image", () => {
  assert.equal(promptError({ box: [0, 0, 255, 191], points: [] }, 256, 192), null);
  assert.equal(promptError({ box: [10, 10, 10, 20], points: [] }, 256, 192), "box 10,10,10,20 has no area (give x0 < x1 and y0 < y1)");
  assert.equal(promptError({ box: [10, 10, 256, 20], points: [] }, 256, 192),
    "box 10,10,256,20 lies outside the 256x192 image (both corners need x in 0..255, y in 0..191)");
  assert.equal(promptError({ box: [10, 10, Infinity, 20], points: [] }, 256, 192), "box must be 4 finite numbers x0,y0,x1,y1, got 10,10,Infinity,20");
  assert.match(promptError({ box: [1, 2, 3], points: [] }, 256, 192), /^box must be 4 finite numbers/);
});

test("the point limit follows the server's limits", () => {
  const saved = RULES.maxPoints;
  try {
    assert.equal(RULES.maxPoints, 64);
    const pts = Array.from({ length: 65 }, (_, i) => [i, 0]);
    assert.equal(promptError({ points: pts, labels: pts.map(() => 1) }, 100, 100), "65 points: at most 64 points per prompt");
    assert.equal(promptError({ points: pts.slice(0, 64), labels: pts.slice(0, 64).map(() => 1) }, 100, 100), null);
    setRules({ max_points: 3, max_pixels: 1e8 });
    assert.equal(RULES.maxPoints, 3);
    assert.equal(promptError({ points: pts.slice(0, 4), labels: [1, 1, 1, 1] }, 100, 100), "4 points: at most 3 points per prompt");
    setRules({});  // no limit given: unchanged
    setRules({ max_points: -1 });  // nonsense: unchanged
    assert.equal(RULES.maxPoints, 3);
  } finally { RULES.maxPoints = saved; }
});

test("a dragged box is clamped onto the image and rounded; a small one is not a box", () => {
  assert.deepEqual(clampPt(100, 50, { x: -3, y: 70 }), { x: 0, y: 49 });
  assert.deepEqual(boxFromDrag(100, 50, { x: 80.26, y: 40 }, { x: 10.04, y: 60 }), [10, 40, 80.3, 49]);
  assert.equal(boxFromDrag(100, 50, { x: 10, y: 10 }, { x: 11.9, y: 30 }), null);
  assert.equal(promptError({ box: boxFromDrag(100, 50, { x: -5, y: -5 }, { x: 500, y: 500 }), points: [] }, 100, 50), null);
});
