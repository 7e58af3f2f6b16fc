// dermaseg in the browser: open images, refine the automatic mask with SAM prompts, correct it with a
// brush, measure it, export it. All segmentation is done by the server's Predictor; the page keeps each
// image's mask (Uint8Array, 1 = lesion) with its undo history and syncs edits back with PUT .../mask.
import { api } from "./api.js";
import { area, maskFromB64, maskToPng, paintStroke } from "./mask.js";
import { wireExports } from "./export.js";
import { renderMeasurements, renderAuto } from "./panels.js";
import { Viewer } from "./view.js";
import { renderItems, samLabel } from "./list.js";
import { createReview } from "./review.js";
import { pending, queueWrite } from "./sync.js";
import { wireScale } from "./scale.js";
import { wireZoom } from "./zoom.js";

const $ = (id) => document.getElementById(id);
const S = {
  maxPoints: 64,  // replaced by /api/models limits.max_points
  images: [], current: -1, tool: "box", mode: "outline", opacity: 0.45, brush: 12, showMask: true,
  defaultPixelSize: null, lastLatency: null, latencies: [], busy: 0,
};
const viewer = new Viewer($("canvas"));
const UI = { dragBox: null, ruler: [], rulerEnd: null, cursor: null, painting: null, boxStart: null };
const cur = () => S.images[S.current] || null;
let keySeq = 0;

// ------------------------------------------------------------------ messages
function toast(msg, kind = "error") {
  const box = $("toasts");
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = msg;
  const x = document.createElement("button");
  x.className = "toast-close"; x.textContent = "×"; x.title = "Dismiss"; x.onclick = () => el.remove();
  el.appendChild(x);
  box.appendChild(el);
  setTimeout(() => el.remove(), kind === "error" ? 10000 : 4000);
}
const fail = (e) => toast(e && e.message ? e.message : String(e));

// ------------------------------------------------------------------ drawing
let frame = 0;
function draw() {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const rec = cur();
    viewer.render({
      mask: rec && rec.mask, maskVersion: rec ? `${rec.key}:${rec.maskVersion}` : "", mode: S.mode,
      opacity: S.opacity, showMask: S.showMask, prompts: rec && rec.prompts, dragBox: UI.dragBox,
      ruler: UI.ruler, rulerEnd: UI.rulerEnd, cursor: UI.cursor, savedRuler: rec && !UI.ruler.length ? rec.ruler : null,
    });
  });
}

// ------------------------------------------------------------------ opening images
const blankRec = (extra) => ({ key: ++keySeq, maskVersion: 0, measuredVersion: -1, predictSeq: 0, measureSeq: 0,
  prompts: { box: null, points: [], labels: [] }, undo: [], redo: [], pixelSize: S.defaultPixelSize,
  pixelSource: S.defaultPixelSize ? "session" : null, kind: "auto", sync: Promise.resolve(), measuring: Promise.resolve(), ...extra });
// a workspace image not loaded yet (status "remote"): list.js's loadImage fills it when it is opened
const newRec = (row) => blankRec({ id: row.id, name: row.name, status: "remote", ws: row, version: row.version });

async function openFiles(files) {
  const list = [...files].filter((f) => f && f.size !== undefined);
  for (const file of list) S.images.push(blankRec({ name: file.name, file, status: "uploading" }));
  renderList();
  for (const rec of S.images.filter((r) => r.status === "uploading" && r.file)) await uploadOne(rec);
  if (S.ws) review.refresh().catch(fail);  // uploads join the workspace
}

async function uploadOne(rec) {
  try {
    const r = await api.upload(rec.file, rec.pixelSize);
    Object.assign(rec, { id: r.id, width: r.width, height: r.height, sam: r.sam, measurements: r.auto.measurements });
    const mask = await maskFromB64(r.auto.mask, r.width, r.height);
    rec.auto = { mask, quality: r.auto.predicted_quality, flags: r.auto.flags, source: r.auto.source };
    rec.mask = mask.slice(); rec.measuredVersion = rec.maskVersion;
    const png = await api.imagePng(r.id);
    rec.bitmap = await createImageBitmap(png);
    rec.thumb = URL.createObjectURL(png);
    rec.status = "ready"; rec.file = null;
    if (S.current < 0 || !cur() || cur().status !== "ready") select(S.images.indexOf(rec));
  } catch (e) {
    rec.status = "error"; rec.error = e.message; rec.file = null;
    toast(e.message.startsWith(rec.name) ? e.message : `${rec.name}: ${e.message}`);
  }
  renderList(); updatePanels(); pollSam();
}

let polling = null;
function pollSam() {
  if (polling) return;
  polling = setInterval(async () => {
    const pending = S.images.filter((r) => r.status === "ready" && r.sam === "pending");
    if (!pending.length) { clearInterval(polling); polling = null; return; }
    for (const rec of pending) {
      try { const i = await api.info(rec.id); rec.sam = i.sam; } catch (e) { rec.sam = "unknown"; }
    }
    renderList(); updatePanels();
  }, 1000);
}

function select(i) {
  if (i < 0 || i >= S.images.length) return;
  S.current = i;
  UI.ruler = []; UI.rulerEnd = null; UI.dragBox = null;
  const rec = cur();
  viewer.setImage(rec.status === "ready" ? rec : null);
  document.body.dataset.current = rec.id || "";
  renderList(); updatePanels(); draw(); zoom.update();
  if (rec.status === "remote" || (rec.ws && rec.status === "error")) {
    review.open(rec).then(() => {
      if (rec.status === "ready") { refreshMeasurements(rec); pollSam(); }
      if (rec === cur()) select(S.current); else renderList();
    });
  }
}

function step(d) {
  if (!S.images.length) return;
  select((Math.max(0, S.current) + d + S.images.length) % S.images.length);
}

async function removeImage(rec) {
  if (rec.id) { try { await api.remove(rec.id); } catch (e) { if (e.status !== 404) return fail(e); } }
  const i = S.images.indexOf(rec);
  S.images.splice(i, 1);
  if (rec.thumb) URL.revokeObjectURL(rec.thumb);
  if (S.current >= S.images.length) S.current = S.images.length - 1;
  if (S.current >= 0) select(S.current); else { viewer.setImage(null); renderList(); updatePanels(); draw(); }
}

// ------------------------------------------------------------------ history and sync
const clonePrompts = (p) => ({ box: p.box ? [...p.box] : null, points: p.points.map((q) => [...q]), labels: [...p.labels] });
const snapshot = (rec) => ({ mask: rec.mask.slice(), prompts: clonePrompts(rec.prompts), kind: rec.kind });
function pushUndo(rec) { rec.undo.push(snapshot(rec)); if (rec.undo.length > 50) rec.undo.shift(); rec.redo = []; }
function restore(rec, snap) { rec.mask = snap.mask; rec.prompts = snap.prompts; rec.kind = snap.kind; rec.maskVersion++; }

// the latest request for an image's measurements wins (responses may arrive out of order)
function showMeasurements(rec, token, m, maskVersion) {
  if (token !== rec.measureSeq) return;
  rec.measurements = m; rec.measuredVersion = maskVersion;
  if (rec === cur()) updatePanels();
}
function refreshMeasurements(rec) {
  const token = ++rec.measureSeq, mv = rec.maskVersion;
  // after any pending edit reached the server; not on rec.sync, so the next prompt does not wait for it
  rec.measuring = rec.sync.then(() => api.measurements(rec.id, rec.pixelSize)).then((m) => showMeasurements(rec, token, m, mv)).catch(fail);
  return rec.measuring;
}

// every edit is saved as it happens (workspace: with If-Match; a 409 shows the newer mask: review.conflict)
const writeOpts = { onError: fail, onConflict: (rec, e) => review.conflict(rec, e) };
function syncMask(rec) {
  updatePanels();
  return queueWrite(rec, async (version) => {
    const token = ++rec.measureSeq, mv = rec.maskVersion;
    const blob = await maskToPng(rec.mask, rec.width, rec.height);
    const r = await api.putMask(rec.id, blob, rec.pixelSize, version);
    showMeasurements(rec, token, r.measurements, mv);
    if (r.status && rec.ws) rec.ws = { ...rec.ws, status: r.status, reviewer: r.reviewer };
    return r;
  }, writeOpts).then((r) => { updatePanels(); if (r && S.ws) review.refresh().catch(fail); return r; });
}

function undo() {
  const rec = cur(); if (!rec || !rec.undo.length) return;
  rec.predictSeq++;
  rec.redo.push(snapshot(rec)); restore(rec, rec.undo.pop());
  draw(); updatePanels(); syncMask(rec);
}
function redo() {
  const rec = cur(); if (!rec || !rec.redo.length) return;
  rec.predictSeq++;
  rec.undo.push(snapshot(rec)); restore(rec, rec.redo.pop());
  draw(); updatePanels(); syncMask(rec);
}
function resetAuto() {
  const rec = cur(); if (!rec || !rec.auto) return;
  pushUndo(rec); rec.predictSeq++;
  rec.mask = rec.auto.mask.slice(); rec.prompts = { box: null, points: [], labels: [] }; rec.kind = "auto"; rec.maskVersion++;
  draw(); updatePanels(); syncMask(rec);
}

// ------------------------------------------------------------------ prompts
async function runPrompt(rec, t0) {
  const seq = ++rec.predictSeq;
  S.busy++; updateStatus();
  try {
    const p = rec.prompts, prompt = { box: p.box, points: p.points, labels: p.labels };
    // after any edit still being saved; on a workspace image, saved by the server with If-Match
    let failed = null;
    const r = await queueWrite(rec, (version) => api.predict(rec.id, prompt, rec.pixelSize, false, version),
      { onError: (e) => { failed = e; }, onConflict: writeOpts.onConflict });
    if (failed) throw failed;
    if (!r) { draw(); updatePanels(); return; }  // 409: the newer mask is shown
    if (r.status && rec.ws) rec.ws = { ...rec.ws, status: r.status, reviewer: r.reviewer };
    if (S.ws) review.refresh().catch(fail);
    if (seq !== rec.predictSeq) return;
    const m = await maskFromB64(r.mask, rec.width, rec.height);
    if (seq !== rec.predictSeq) return;
    Object.assign(rec, { mask: m, kind: "prompt", score: r.score, sam: "ready" });
    rec.maskVersion++;
    draw();
    refreshMeasurements(rec);  // after the mask is on screen
    requestAnimationFrame(() => {
      const ms = performance.now() - t0;
      S.lastLatency = ms; S.latencies.push(ms);
      try { performance.measure("dermaseg:prompt-to-mask", { start: t0, end: performance.now() }); } catch (_) { /* old browser */ }
      updateStatus();
    });
    updatePanels();
  } catch (e) {
    if (seq === rec.predictSeq && rec.undo.length) { restore(rec, rec.undo.pop()); draw(); }
    fail(e);
  } finally { S.busy--; updateStatus(); }
}

const inside = (rec, p) => p.x >= 0 && p.y >= 0 && p.x <= rec.width - 1 && p.y <= rec.height - 1;
const clampPt = (rec, p) => ({ x: Math.min(rec.width - 1, Math.max(0, p.x)), y: Math.min(rec.height - 1, Math.max(0, p.y)) });
const round1 = (v) => Math.round(v * 10) / 10;

function addPoint(rec, p, label, t0) {
  if (!inside(rec, p)) return;
  if (rec.prompts.points.length >= S.maxPoints) { fail(new Error(`at most ${S.maxPoints} points per prompt`)); return; }
  pushUndo(rec);
  rec.prompts.points.push([round1(p.x), round1(p.y)]); rec.prompts.labels.push(label);
  draw(); runPrompt(rec, t0);
}

// ------------------------------------------------------------------ pointer tools
const canvas = $("canvas");
canvas.addEventListener("contextmenu", (e) => e.preventDefault());
const zoom = wireZoom({ viewer, canvas, draw, label: $("zoom-val"),
  buttons: { in: $("zoom-in"), out: $("zoom-out"), fit: $("zoom-fit") } });
canvas.addEventListener("pointerdown", (ev) => {
  const rec = cur(); if (!rec || rec.status !== "ready") return;
  const p = viewer.toImage(ev), t0 = ev.timeStamp || performance.now();
  canvas.setPointerCapture(ev.pointerId);
  if (zoom.pointerDown(ev)) return;
  if (S.tool === "box") { if (inside(rec, p)) UI.boxStart = p; }
  else if (S.tool === "pos" || S.tool === "neg") {
    const negative = S.tool === "neg" || ev.button === 2 || ev.shiftKey || ev.altKey;
    addPoint(rec, p, negative ? 0 : 1, t0);
  } else if (S.tool === "brush" || S.tool === "eraser") {
    pushUndo(rec); rec.predictSeq++;
    const erase = S.tool === "eraser" || ev.button === 2;
    UI.painting = { last: p, erase, r: S.brush / 2 };  // the brush size is in image pixels
    paintStroke(rec.mask, rec.width, rec.height, p.x, p.y, p.x, p.y, UI.painting.r, erase ? 0 : 1);
    rec.maskVersion++; draw();
  } else if (S.tool === "ruler") {
    if (!inside(rec, p)) return;
    if (UI.ruler.length !== 1) UI.ruler = [p]; else { UI.ruler.push(p); rulerDone(rec); }
    draw();
  }
});
canvas.addEventListener("pointermove", (ev) => {
  const rec = cur(); if (!rec || rec.status !== "ready") return;
  if (zoom.pointerMove(ev)) return;
  const p = viewer.toImage(ev);
  $("cursor-pos").textContent = inside(rec, p) ? `x ${Math.round(p.x)}, y ${Math.round(p.y)}` : "";
  if (S.tool === "brush" || S.tool === "eraser") UI.cursor = { ...p, r: S.brush / 2, erase: S.tool === "eraser" };
  else UI.cursor = null;
  if (UI.boxStart) {
    const q = clampPt(rec, p), s = UI.boxStart;
    UI.dragBox = [Math.min(s.x, q.x), Math.min(s.y, q.y), Math.max(s.x, q.x), Math.max(s.y, q.y)];
  } else if (UI.painting) {
    const P = UI.painting;
    paintStroke(rec.mask, rec.width, rec.height, P.last.x, P.last.y, p.x, p.y, P.r, P.erase ? 0 : 1);
    P.last = p; rec.maskVersion++;
  } else if (S.tool === "ruler" && UI.ruler.length === 1) UI.rulerEnd = clampPt(rec, p);
  draw();
});
const endPointer = (ev) => {
  if (zoom.pointerUp(ev)) return;
  const rec = cur(); if (!rec) return;
  if (UI.boxStart) {
    const b = UI.dragBox; UI.boxStart = null; UI.dragBox = null;
    if (b && b[2] - b[0] >= 2 && b[3] - b[1] >= 2) {
      pushUndo(rec); rec.prompts.box = b.map(round1); draw(); runPrompt(rec, ev.timeStamp || performance.now());
    } else draw();
  } else if (UI.painting) {
    UI.painting = null; rec.kind = "edit"; updatePanels(); syncMask(rec);
  }
};
canvas.addEventListener("pointerup", endPointer);
canvas.addEventListener("pointercancel", endPointer);
canvas.addEventListener("pointerleave", () => { UI.cursor = null; $("cursor-pos").textContent = ""; draw(); });

// ------------------------------------------------------------------ scale (pixel size): scale.js
const { rulerDone } = wireScale({ S, UI, cur, toast, refreshMeasurements, updatePanels, draw });

// ------------------------------------------------------------------ panels
function renderList() {
  renderItems($("image-list"), S.images, S.current, { select, remove: removeImage });
  $("empty-hint").hidden = S.images.length > 0 || !!S.ws;
  $("count").textContent = S.images.length ? `${S.images.length} image${S.images.length > 1 ? "s" : ""}` : "";
}

function updateStatus() {
  const rec = cur();
  const parts = [];
  if (rec && rec.status === "ready") {
    parts.push(`${rec.width}×${rec.height} px`, { auto: "automatic mask", prompt: "prompted mask", edit: "edited mask" }[rec.kind]);
    parts.push(`area ${area(rec.mask).toLocaleString()} px`);
  }
  if (S.busy) parts.push("segmenting…");
  if (S.lastLatency != null) parts.push(`last prompt → mask ${Math.round(S.lastLatency)} ms`);
  $("status").textContent = parts.join(" · ");
}

function updatePanels() {
  const rec = cur();
  const ready = !!rec && rec.status === "ready";
  document.body.classList.toggle("has-image", ready);
  $("image-title").textContent = rec ? rec.name : "No image";
  $("sam-state").textContent = ready ? samLabel(rec.sam) : "";
  $("sam-state").dataset.state = ready ? rec.sam : "";
  renderAuto($("auto-panel"), ready ? rec : null);
  // never the numbers of an older mask: "updating" until the current mask's measurements arrive
  renderMeasurements($("measure-table"), ready ? (rec.measuredVersion === rec.maskVersion ? rec.measurements : "updating") : undefined,
    ready ? rec.pixelSize : null);
  review.panel(rec);
  $("pixel-size").value = ready && rec.pixelSize ? Number(rec.pixelSize.toPrecision(4)) : "";
  $("pixel-source").textContent = ready && rec.pixelSize ? `(${rec.pixelSource})` : "not set: measurements in pixels only";
  $("undo").disabled = !ready || !rec.undo.length; $("redo").disabled = !ready || !rec.redo.length;
  for (const b of document.querySelectorAll("[data-needs-image]")) b.disabled = !ready;
  $("undo").disabled = !ready || !rec.undo.length; $("redo").disabled = !ready || !rec.redo.length;
  $("export-session").disabled = !S.images.some((r) => r.status === "ready");
  updateStatus();
}

// ------------------------------------------------------------------ tools, view options, keys
function setTool(t) {
  S.tool = t;
  for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  canvas.dataset.tool = t;
  if (t !== "ruler") { UI.ruler = []; UI.rulerEnd = null; $("ruler-form").hidden = true; }
  $("hint").textContent = {
    box: "Drag a box around the lesion.", pos: "Click on the lesion (Shift/right-click: background).",
    neg: "Click on skin that is not lesion.", brush: "Paint lesion; [ and ] change the size.",
    eraser: "Erase lesion; [ and ] change the size.", ruler: "Click both ends of a ruler segment of known length.",
  }[t];
  UI.cursor = null; draw();
}
for (const b of document.querySelectorAll("[data-tool]")) b.addEventListener("click", () => setTool(b.dataset.tool));
$("brush-size").addEventListener("input", (e) => { S.brush = +e.target.value; $("brush-size-val").textContent = `${S.brush} px`; });
$("opacity").addEventListener("input", (e) => { S.opacity = +e.target.value / 100; draw(); });
$("mode").addEventListener("click", toggleMode);
function toggleMode() {
  S.mode = S.mode === "outline" ? "fill" : "outline";
  $("mode").textContent = S.mode === "outline" ? "Outline" : "Fill";
  $("mode").setAttribute("aria-pressed", String(S.mode === "fill"));
  draw();
}
$("show-mask").addEventListener("change", (e) => { S.showMask = e.target.checked; draw(); });
$("undo").onclick = undo; $("redo").onclick = redo; $("reset").onclick = resetAuto;
$("prev").onclick = () => step(-1); $("next").onclick = () => step(1);
function brushBy(d) { const el = $("brush-size"); el.value = String(Math.min(+el.max, Math.max(+el.min, S.brush + d))); el.dispatchEvent(new Event("input")); }

document.addEventListener("keydown", (e) => {
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) && e.target.type !== "range" && e.target.type !== "checkbox";
  if (typing) { if (e.key === "Escape") e.target.blur(); return; }
  const k = e.key.toLowerCase(), mod = e.ctrlKey || e.metaKey;
  if (mod && k === "z") { e.preventDefault(); return e.shiftKey ? redo() : undo(); }
  if (mod && k === "y") { e.preventDefault(); return redo(); }
  if (mod || e.altKey) return;
  if (zoom.key(e)) return;
  if (e.shiftKey && k === "a") { e.preventDefault(); return resetAuto(); }
  const tools = { b: "box", p: "pos", k: "neg", d: "brush", e: "eraser", r: "ruler" };
  if (tools[k]) return setTool(tools[k]);
  const acts = { a: () => review.decide("approved"), s: () => review.decide("skipped"), n: () => review.next(), o: toggleMode, "[": () => brushBy(-2), "]": () => brushBy(2), arrowleft: () => step(-1),
    arrowright: () => step(1), pageup: () => step(-1), pagedown: () => step(1), "?": () => $("shortcuts").scrollIntoView({ block: "nearest" }),
    escape: () => { UI.boxStart = null; UI.dragBox = null; UI.ruler = []; UI.rulerEnd = null; draw(); },
    h: () => { $("show-mask").checked = !$("show-mask").checked; $("show-mask").dispatchEvent(new Event("change")); } };
  if (acts[k]) { e.preventDefault(); acts[k](); }
});

// ------------------------------------------------------------------ export
wireExports({ cur, images: () => S.images, view: () => ({ mode: S.mode, opacity: S.opacity }), fail });

// ------------------------------------------------------------------ files in, start
$("file-input").addEventListener("change", (e) => { openFiles(e.target.files); e.target.value = ""; });
window.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
window.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
window.addEventListener("drop", (e) => { e.preventDefault(); document.body.classList.remove("dragging"); openFiles(e.dataTransfer.files); });
new ResizeObserver(() => { viewer.resize(); draw(); zoom.update(); }).observe($("stage"));
// leaving with a stroke being painted or an edit not yet acknowledged by the server warns
window.addEventListener("beforeunload", (e) => { if (pending() || UI.painting) { e.preventDefault(); e.returnValue = "unsaved"; } });

api.models().then((m) => {
  const a = m.automatic, p = m.prompted;
  $("models").textContent = `automatic: ${a ? a.name : "—"} · prompts: ${p ? p.name : "none"}`;
  if (m.limits && m.limits.max_points) S.maxPoints = m.limits.max_points;  // the server's prompt rule
  api.me().then((u) => { $("account").textContent = u.auth ? `signed in as ${u.user} (${u.role})` : u.mode; })
    .catch(() => {});
  if (!p) for (const t of ["box", "pos", "neg"]) document.querySelector(`[data-tool=${t}]`).disabled = true;
  if (!p) setTool("brush");
}).catch(fail);
const review = createReview({ S, cur, newRec, select, renderList, updatePanels, draw, toast, fail });
setTool("box"); renderList(); updatePanels();
review.init().catch(fail);

// for tests and benchmarks: state and image -> client coordinates
window.dermaseg = {
  state: S,
  toClient(x, y) {
    const r = canvas.getBoundingClientRect(), k = r.width / canvas.width;
    const [cx, cy] = viewer.toCanvas(x, y);
    return { x: r.left + cx * k, y: r.top + cy * k };
  },
  area: () => (cur() && cur().mask ? area(cur().mask) : null),
  zoom: () => viewer.zoomPercent(),
  pending,
};
