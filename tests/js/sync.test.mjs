// node --test tests/js/: the page's write queue (static/sync.js): writes of one image run one after the
// other, each with the version the previous one returned (If-Match), failures do not block the next, and
// pending() counts the writes not yet acknowledged.
import assert from "node:assert/strict";
import { test } from "node:test";

import { pending, queueWrite } from "../../src/dermaseg/serve/static/sync.js";

const tick = (ms) => new Promise((r) => setTimeout(r, ms));

test("writes run in order, each based on the version the previous one returned", async () => {
  const rec = { ws: { status: "auto" }, version: 3, sync: Promise.resolve() };
  const seen = [], errors = [];
  const opts = { onError: (e) => errors.push(e.message), onConflict: () => assert.fail("no 409 here") };
  const a = queueWrite(rec, async (v) => { seen.push(["a", v]); await tick(20); return { version: v + 1 }; }, opts);
  const b = queueWrite(rec, async (v) => { seen.push(["b", v]); throw new Error("disk full"); }, opts);
  const c = queueWrite(rec, async (v) => { seen.push(["c", v]); return { version: v + 1 }; }, opts);
  assert.equal(pending(), 3);
  assert.deepEqual(await a, { version: 4 });
  assert.equal(await b, null);
  assert.deepEqual(await c, { version: 5 });
  assert.deepEqual(seen, [["a", 3], ["b", 4], ["c", 4]]);
  assert.deepEqual(errors, ["disk full"]);
  assert.equal(rec.version, 5);
  assert.equal(pending(), 0);
});

test("an image outside a workspace is written without a version", async () => {
  const rec = { version: 9, sync: Promise.resolve() };
  const r = await queueWrite(rec, async (v) => ({ got: v }), { onError: assert.fail, onConflict: assert.fail });
  assert.deepEqual(r, { got: null });
});
