// Saving edits to the server as they happen: each image's writes (a prompt's mask, a brush stroke's PNG) run
// one after the other on rec.sync, each with If-Match: the version the page holds. A 409 (another reviewer
// saved first) fetches the newer mask and shows it instead of overwriting it. `pending()` counts the writes
// not yet acknowledged (the page warns before unload while any is left).

import { ApiError, api } from "./api.js";
import { maskFromBlob } from "./mask.js";

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
