// The page's state, with no DOM: the session (`createState`: the open images, the current one, the tool
// and view options) and each image's record (`blankRec`: its mask, a Uint8Array of width*height with
// 1 = lesion, the prompt that made it, and its undo/redo history). app.js holds the one state; every
// other module receives it. Node imports this module in tests/js/ (no browser needed).

export const UNDO_LIMIT = 50;  // snapshots kept per image

/** The session's state; `window.dermaseg.state` in the page (tests read it). */
export function createState() {
  return {
    images: [], current: -1, tool: "box", mode: "outline", opacity: 0.45, brush: 12, showMask: true,
    defaultPixelSize: null, lastLatency: null, latencies: [], busy: 0,
    keySeq: 0,
  };
}

/** The current image's record, or null. */
export const current = (S) => S.images[S.current] || null;

export const emptyPrompts = () => ({ box: null, points: [], labels: [] });

/** A new image record (`extra`: its id, name, file, status...). */
export function blankRec(S, extra) {
  return {
    key: ++S.keySeq, maskVersion: 0, measuredVersion: -1, predictSeq: 0, measureSeq: 0,
    prompts: emptyPrompts(), undo: [], redo: [], pixelSize: S.defaultPixelSize,
    pixelSource: S.defaultPixelSize ? "session" : null, kind: "auto", sync: Promise.resolve(),
    measuring: Promise.resolve(), ...extra,
  };
}

/** A workspace image not loaded yet (status "remote": list.js's loadImage fills it when it is opened). */
export const remoteRec = (S, row) => blankRec(S, { id: row.id, name: row.name, status: "remote", ws: row, version: row.version });

// ------------------------------------------------------------------ history (undo / redo)
export const clonePrompts = (p) => ({ box: p.box ? [...p.box] : null, points: p.points.map((q) => [...q]), labels: [...p.labels] });
export const snapshot = (rec) => ({ mask: rec.mask.slice(), prompts: clonePrompts(rec.prompts), kind: rec.kind });

/** Before an edit: the current mask, prompt and kind go on the undo stack; the redo stack is cleared. */
export function pushUndo(rec) {
  rec.undo.push(snapshot(rec));
  if (rec.undo.length > UNDO_LIMIT) rec.undo.shift();
  rec.redo = [];
}

/** Put a snapshot back as the current mask (a new mask version). */
export function restore(rec, snap) {
  rec.mask = snap.mask; rec.prompts = snap.prompts; rec.kind = snap.kind; rec.maskVersion++;
}

/** Undo the last edit; false when there is none. A prompt still running is forgotten (predictSeq). */
export function undo(rec) {
  if (!rec || !rec.undo.length) return false;
  rec.predictSeq++;
  rec.redo.push(snapshot(rec)); restore(rec, rec.undo.pop());
  return true;
}

/** Redo the last undone edit; false when there is none. */
export function redo(rec) {
  if (!rec || !rec.redo.length) return false;
  rec.predictSeq++;
  rec.undo.push(snapshot(rec)); restore(rec, rec.redo.pop());
  return true;
}

/** Back to the automatic mask (an edit that can be undone); false without one. */
export function resetAuto(rec) {
  if (!rec || !rec.auto) return false;
  pushUndo(rec); rec.predictSeq++;
  rec.mask = rec.auto.mask.slice(); rec.prompts = emptyPrompts(); rec.kind = "auto"; rec.maskVersion++;
  return true;
}
