// Saving edits to the server as they happen: each image's writes (a prompt's mask, a brush stroke's PNG) run
// one after the other on rec.sync, each with If-Match: the version the page holds. A 409 (another reviewer
// saved first) fetches the newer mask and shows it instead of overwriting it. `pending()` counts the writes
// not yet acknowledged (the page warns before unload while any is left). `createSync` builds on it: saving a
// painted mask, running a prompt, and the measurements of the current mask (the latest request wins).

import { ApiError, api } from "./api.js";
import { maskFromBlob } from "./mask.js";
import { restore } from "./state.js";

let inFlight = 0;

/** Writes queued or running, over every image. */
export const pending = () => inFlight;

/** Queue `job(version)` on the image's write chain; resolves to its result (or null on failure, after
 * `onError`). A 409 calls `onConflict(rec, err)` (the rec then holds the newer mask and version). */
export function queueWrite(rec, job, { onError, onConflict }) {
  inFlight++;
  const run = async () => {
    try {
      const r = await job(rec.ws ? rec.version : null);
      if (r && r.version !== undefined) rec.version = r.version;
      return r;
    } catch (e) {
      if (e instanceof ApiError && e.status === 409 && rec.ws) {
        await loadNewer(rec);
        onConflict(rec, e);
      } else onError(e);
      return null;
    } finally { inFlight--; }
  };
  const p = rec.sync.then(run);
  rec.sync = p.then(() => undefined, () => undefined);
  return p;
}

/** The server's current state of a workspace image: its mask and version (after a 409, or on open). */
export async function loadNewer(rec) {
  const [info, png] = await Promise.all([api.info(rec.id), api.maskPng(rec.id)]);
  rec.mask = await maskFromBlob(png, rec.width, rec.height);
  rec.version = info.version; rec.ws = { ...rec.ws, ...info };
  rec.kind = info.mask_kind === "auto" ? "auto" : info.mask_kind === "prompt" ? "prompt" : "edit";
  rec.maskVersion++;
  return info;
}

/** The record's exchanges with the server beyond the write queue: its measurements (the latest request
 * wins), saving a painted mask, and running a prompt. ctx: {S, draw(), updatePanels(), updateStatus(),
 * fail(e), onConflict(rec, err), refreshReview(): the workspace list after a save}. No DOM: the page's
 * frame clock (`ctx.frame`, requestAnimationFrame in the page) and PNG codec (`ctx.encode`, `ctx.decode`,
 * mask.js's in the page) are passed in. */
export function createSync(ctx) {
  const { S } = ctx;
  const writeOpts = { onError: ctx.fail, onConflict: ctx.onConflict };

  // the latest request for an image's measurements wins (responses may arrive out of order)
  function showMeasurements(rec, token, m, maskVersion) {
    if (token !== rec.measureSeq) return;
    rec.measurements = m; rec.measuredVersion = maskVersion;
    if (rec === S.images[S.current]) ctx.updatePanels();
  }

  function refreshMeasurements(rec) {
    const token = ++rec.measureSeq, mv = rec.maskVersion;
    // after any pending edit reached the server; not on rec.sync, so the next prompt does not wait for it
    rec.measuring = rec.sync.then(() => api.measurements(rec.id, rec.pixelSize))
      .then((m) => showMeasurements(rec, token, m, mv)).catch(ctx.fail);
    return rec.measuring;
  }

  const tookStatus = (rec, r) => { if (r && r.status && rec.ws) rec.ws = { ...rec.ws, status: r.status, reviewer: r.reviewer }; };

  // every edit is saved as it happens (workspace: with If-Match; a 409 shows the newer mask)
  function syncMask(rec) {
    ctx.updatePanels();
    return queueWrite(rec, async (version) => {
      const token = ++rec.measureSeq, mv = rec.maskVersion;
      const blob = await ctx.encode(rec.mask, rec.width, rec.height);
      const r = await api.putMask(rec.id, blob, rec.pixelSize, version);
      showMeasurements(rec, token, r.measurements, mv);
      tookStatus(rec, r);
      return r;
    }, writeOpts).then((r) => { ctx.updatePanels(); if (r && S.ws) ctx.refreshReview(); return r; });
  }

  // a prompt (rec.prompts, already checked by prompts.js) -> the server's mask; t0: when the user acted
  async function runPrompt(rec, t0) {
    const seq = ++rec.predictSeq;
    S.busy++; ctx.updateStatus();
    try {
      const p = rec.prompts, prompt = { box: p.box, points: p.points, labels: p.labels };
      // after any edit still being saved; on a workspace image, saved by the server with If-Match
      let failed = null;
      const r = await queueWrite(rec, (version) => api.predict(rec.id, prompt, rec.pixelSize, false, version),
        { onError: (e) => { failed = e; }, onConflict: ctx.onConflict });
      if (failed) throw failed;
      if (!r) { ctx.draw(); ctx.updatePanels(); return; }  // 409: the newer mask is shown
      tookStatus(rec, r);
      if (S.ws) ctx.refreshReview();
      if (seq !== rec.predictSeq) return;
      const m = await ctx.decode(r.mask, rec.width, rec.height);
      if (seq !== rec.predictSeq) return;
      Object.assign(rec, { mask: m, kind: "prompt", score: r.score, sam: "ready" });
      rec.maskVersion++;
      ctx.draw();
      refreshMeasurements(rec);  // after the mask is on screen
      ctx.frame(() => {
        const ms = ctx.now() - t0;
        S.lastLatency = ms; S.latencies.push(ms);
        try { performance.measure("dermaseg:prompt-to-mask", { start: t0, end: ctx.now() }); } catch (_) { /* old browser */ }
        ctx.updateStatus();
      });
      ctx.updatePanels();
    } catch (e) {
      if (seq === rec.predictSeq && rec.undo.length) { restore(rec, rec.undo.pop()); ctx.draw(); }
      ctx.fail(e);
    } finally { S.busy--; ctx.updateStatus(); }
  }

  return { refreshMeasurements, syncMask, runPrompt, showMeasurements };
}
