// node --test tests/js/: the timeline panel's words for a comparison (static/timeline.js): the change
// figures with their signs and units, the flag only when compare/ set `changed`, and why a pair was not judged.
import assert from "node:assert/strict";
import { test } from "node:test";

import { describeComparison, visitLabel } from "../../src/dermaseg/serve/static/timeline.js";

const change = { area_mm2: 1.234, area_pct: 12.345, diameter_mm: -0.5, diameter_pct: -4, asymmetry: 0.0123,
  colours_gained: ["blue-grey"], colours_lost: ["light brown"] };

test("a change beyond repeatability: flagged, naming what exceeded, with the figures", () => {
  const d = describeComparison({ status: "compared", changed: true, exceeded: ["area_pct", "colours"], change });
  assert.equal(d.flag, "changed");
  assert.equal(d.title, "changed: area, colours beyond repeatability");
  assert.deepEqual(d.lines, ["area +1.23 mm² (+12.3 %)", "diameter −0.50 mm", "asymmetry +0.012",
    "colours +blue-grey, −light brown"]);
});

test("within repeatability: not flagged; without a pixel size the changes are relative", () => {
  const d = describeComparison({ status: "compared", changed: false, exceeded: [],
    change: { area_mm2: null, area_pct: -3, diameter_mm: null, diameter_pct: 0, asymmetry: null, colours_gained: [], colours_lost: [] } });
  assert.equal(d.flag, "unchanged");
  assert.equal(d.title, "no change beyond repeatability");
  assert.deepEqual(d.lines, ["area −3.0 %", "diameter ±0.0 %"]);
});

test("a failed registration or a lesion out of view is said, never a change", () => {
  const none = { area_mm2: null, area_pct: null, diameter_mm: null, diameter_pct: null, asymmetry: null, colours_gained: null, colours_lost: null };
  const f = describeComparison({ status: "registration_failed", changed: false, exceeded: [], change: none });
  assert.deepEqual(f, { flag: "not-judged", title: "registration failed: not compared", lines: [] });
  const e = describeComparison({ status: "lesion_not_in_view", changed: false, exceeded: [], change });
  assert.equal(e.flag, "not-judged");
  assert.equal(e.title, "lesion not whole in view: not judged");
  assert.equal(visitLabel({ date: null, name: "a.jpg" }), "no date · a.jpg");
  assert.equal(visitLabel({ date: "2024-01-10", name: "a.jpg" }), "2024-01-10 · a.jpg");
});
