// dermaseg in the browser: open images, refine the automatic mask with SAM prompts, correct it with a
// brush, measure it, export it. All segmentation is done by the server's Predictor. This module only wires
// the page together: the state (state.js: the images, each mask with its undo history), the pointer tools
// (tools.js), the image list (list.js), saving and prompting (sync.js), the panels, the keys and the
// start. Everything that is not DOM lives in those modules (tests/js/ runs them in Node).
import { api } from "./api.js";
import { area, maskFromB64, maskToPng } from "./mask.js";
import { wireExports } from "./export.js";
import { renderMeasurements, renderAuto } from "./panels.js";
import { Viewer } from "./view.js";
import { createImageList, samLabel } from "./list.js";
import { createReview } from "./review.js";
import { createSync, pending } from "./sync.js";
import { wireScale } from "./scale.js";
import { wireZoom } from "./zoom.js";
import { createState, current, redo as redoRec, remoteRec, resetAuto as resetRec, undo as undoRec } from "./state.js";
import { HINTS, TOOL_KEYS, createTools, createUi } from "./tools.js";
import { inside, setRules } from "./prompts.js";
import { setOverlayStyle } from "./overlay.js";
import { createTimeline } from "./timeline.js";

const $ = (id) => document.getElementById(id);
const S = createState();
const UI = createUi();
const canvas = $("canvas");
const viewer = new Viewer(canvas);
const cur = () => current(S);
let review = null;  // review.js, created once the functions it calls exist (below)

// ------------------------------------------------------------------ messages
function toast(msg, kind = "error") {
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = msg;
  const x = document.createElement("button");
  x.className = "toast-close"; x.textContent = "×"; x.title = "Dismiss"; x.onclick = () => el.remove();
  el.appendChild(x);
  $("toasts").appendChild(el);
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

// ------------------------------------------------------------------ saving, prompting, the list
const sync = createSync({
  S, draw, updatePanels, updateStatus, fail, onConflict: (rec, e) => review.conflict(rec, e),
  refreshReview: () => review.refresh().catch(fail), encode: maskToPng, decode: maskFromB64,
  frame: (f) => requestAnimationFrame(f), now: () => performance.now(),
});
const zoom = wireZoom({ viewer, canvas, draw, label: $("zoom-val"),
  buttons: { in: $("zoom-in"), out: $("zoom-out"), fit: $("zoom-fit") } });
const list = createImageList({
  S, viewer, zoom: () => zoom, review: () => review, updatePanels, draw, toast, fail,
  refreshMeasurements: sync.refreshMeasurements,
  selected: (rec) => { UI.ruler = []; UI.rulerEnd = null; UI.dragBox = null; timeline.show(rec); },
});
// a workspace lesion's visits (timeline.js): clicking one opens it
const timeline = createTimeline({ S, cur, openImage(v) {
  let i = S.images.findIndex((r) => r.id === v.id);
  if (i < 0) { S.images.push(remoteRec(S, { id: v.id, name: v.name, status: v.status, version: v.version })); i = S.images.length - 1; }
  list.select(i);
} });

// ------------------------------------------------------------------ history
const edited = (rec) => { draw(); updatePanels(); sync.syncMask(rec); };
const undo = () => { const rec = cur(); if (undoRec(rec)) edited(rec); };
const redo = () => { const rec = cur(); if (redoRec(rec)) edited(rec); };
const resetAuto = () => { const rec = cur(); if (resetRec(rec)) edited(rec); };

// ------------------------------------------------------------------ pointer tools (tools.js)
const { rulerDone } = wireScale({ S, UI, cur, toast, refreshMeasurements: sync.refreshMeasurements, updatePanels, draw });
const tools = createTools({ S, UI, draw, runPrompt: sync.runPrompt, syncMask: sync.syncMask, updatePanels, fail, rulerDone });
const pointer = (ev) => ({ button: ev.button, shiftKey: ev.shiftKey, altKey: ev.altKey });
const when = (ev) => ev.timeStamp || performance.now();
canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("pointerdown", (ev) => {
  const rec = cur(); if (!rec || rec.status !== "ready") return;
  const p = viewer.toImage(ev), t0 = when(ev);
  canvas.setPointerCapture(ev.pointerId);
  if (zoom.pointerDown(ev)) return;
  tools.down(rec, p, pointer(ev), t0);
});
canvas.addEventListener("pointermove", (ev) => {
  const rec = cur(); if (!rec || rec.status !== "ready") return;
  if (zoom.pointerMove(ev)) return;
  const p = viewer.toImage(ev);
  $("cursor-pos").textContent = inside(rec.width, rec.height, p) ? `x ${Math.round(p.x)}, y ${Math.round(p.y)}` : "";
  tools.move(rec, p);
});
const endPointer = (ev) => {
  if (zoom.pointerUp(ev)) return;
  const rec = cur(); if (rec) tools.up(rec, when(ev));
};
canvas.addEventListener("pointerup", endPointer);
canvas.addEventListener("pointercancel", endPointer);
canvas.addEventListener("pointerleave", () => { UI.cursor = null; $("cursor-pos").textContent = ""; draw(); });

// ------------------------------------------------------------------ panels
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
  if (review) review.panel(rec);
  $("pixel-size").value = ready && rec.pixelSize ? Number(rec.pixelSize.toPrecision(4)) : "";
  $("pixel-source").textContent = ready && rec.pixelSize ? `(${rec.pixelSource})` : "not set: measurements in pixels only";
  for (const b of document.querySelectorAll("[data-needs-image]")) b.disabled = !ready;
  $("undo").disabled = !ready || !rec.undo.length; $("redo").disabled = !ready || !rec.redo.length;
  $("export-session").disabled = !S.images.some((r) => r.status === "ready");
  // a DICOM SEG references its source DICOM instance: only for images opened from DICOM files
  $("export-dicom").disabled = !ready || !rec.dicom;
  $("export-dicom").title = ready && !rec.dicom ? "A DICOM SEG needs a DICOM source: this image is not DICOM (export the mask PNG)"
    : "The mask as a DICOM Segmentation referencing the source DICOM image";
  updateStatus();
}

// ------------------------------------------------------------------ tools, view options, keys
function setTool(t) {
  S.tool = t;
  for (const b of document.querySelectorAll("[data-tool]")) b.setAttribute("aria-pressed", String(b.dataset.tool === t));
  canvas.dataset.tool = t;
  if (t !== "ruler") { UI.ruler = []; UI.rulerEnd = null; $("ruler-form").hidden = true; }
  $("hint").textContent = HINTS[t];
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
$("prev").onclick = () => list.step(-1); $("next").onclick = () => list.step(1);
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
  if (TOOL_KEYS[k]) return setTool(TOOL_KEYS[k]);
  const acts = { a: () => review.decide("approved"), s: () => review.decide("skipped"), n: () => review.next(), o: toggleMode, "[": () => brushBy(-2), "]": () => brushBy(2), arrowleft: () => list.step(-1),
    arrowright: () => list.step(1), pageup: () => list.step(-1), pagedown: () => list.step(1), "?": () => $("shortcuts").scrollIntoView({ block: "nearest" }),
    escape: tools.cancel,
    h: () => { $("show-mask").checked = !$("show-mask").checked; $("show-mask").dispatchEvent(new Event("change")); } };
  if (acts[k]) { e.preventDefault(); acts[k](); }
});

// ------------------------------------------------------------------ export
wireExports({ cur, images: () => S.images, view: () => ({ mode: S.mode, opacity: S.opacity }), fail });

// ------------------------------------------------------------------ files in, start
$("file-input").addEventListener("change", (e) => { list.openFiles(e.target.files); e.target.value = ""; });
window.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
window.addEventListener("dragleave", (e) => { if (!e.relatedTarget) document.body.classList.remove("dragging"); });
window.addEventListener("drop", (e) => { e.preventDefault(); document.body.classList.remove("dragging"); list.openFiles(e.dataTransfer.files); });
new ResizeObserver(() => { viewer.resize(); draw(); zoom.update(); }).observe($("stage"));
// leaving with a stroke being painted or an edit not yet acknowledged by the server warns
window.addEventListener("beforeunload", (e) => { if (pending() || UI.painting) { e.preventDefault(); e.returnValue = "unsaved"; } });

// the overlay style and the prompt limit from the Python constants (GET /api/config: overlays.py, data/prompts.py)
api.config().then((c) => {
  setOverlayStyle({ rgb: c.overlay.rgb, px_per_width: c.overlay.pixels_per_width });
  setRules({ max_points: c.max_points });
}).catch(fail);
api.models().then((m) => {
  const a = m.automatic, p = m.prompted;
  $("models").textContent = `automatic: ${a ? a.name : "—"} · prompts: ${p ? p.name : "none"}`;
  setRules(m.limits);  // the server's prompt rule (prompts.js)
  api.me().then((u) => { $("account").textContent = u.auth ? `signed in as ${u.user} (${u.role})` : u.mode; })
    .catch(() => {});
  if (!p) for (const t of ["box", "pos", "neg"]) document.querySelector(`[data-tool=${t}]`).disabled = true;
  if (!p) setTool("brush");
}).catch(fail);
review = createReview({ S, cur, newRec: (row) => remoteRec(S, row), select: list.select, renderList: list.render,
  updatePanels, draw, toast, fail });
setTool("box"); list.render(); updatePanels();
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
