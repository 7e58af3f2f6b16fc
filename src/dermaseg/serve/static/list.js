// The list of open images. `createImageList`: opening files (each uploaded and segmented by the server),
// selecting, stepping through and closing images, and the list's items. In a workspace (dermaseg serve
// --workspace DIR) the rows come from the server (the truth: a reload, a restart or another browser shows
// the same), lowest predicted quality first, filtered to review / flagged / approved / all; each item a
// thumbnail, the name, the status, the predicted quality, the flags and the reviewer. Opening an item loads
// the image, its current mask and its automatic mask.

import { api } from "./api.js";
import { maskFromB64, maskFromBlob } from "./mask.js";
import { blankRec, current } from "./state.js";

export const FILTERS = {
  review: { label: "To review", params: { status: "auto,edited" } },
  flagged: { label: "Flagged", params: { flagged: true } },
  approved: { label: "Approved", params: { status: "approved" } },
  all: { label: "All", params: {} },
};
const PAGE = 500;

export const STATUS_LABEL = { auto: "to review", edited: "edited", approved: "approved", skipped: "skipped" };
const FLAG_SHORT = { "predicted-failure": "likely wrong", review: "check", empty: "empty", "covers-most-of-image": "too large" };

/** The rows of a filter, lowest predicted quality first. */
export function fetchRows(filter) {
  return api.wsImages({ ...(FILTERS[filter] || FILTERS.all).params, order: "quality", limit: PAGE });
}

/** The id of the next image to review (lowest predicted quality, not approved or skipped), other than `exclude`. */
export async function nextToReview(exclude) {
  const rows = await api.wsImages({ status: "auto,edited", order: "quality", limit: 2 });
  const row = rows.find((r) => r.id !== exclude);
  return row ? row : null;
}

const qualityText = (q) => (q === null || q === undefined ? "q —" : `q ${q.toFixed(2)}`);

/** Fill `li` for a workspace image (rec.ws is its row). */
export function fillItem(li, rec) {
  const row = rec.ws;
  li.dataset.review = row.status;
  li.dataset.id = rec.id;
  const th = document.createElement("img");
  th.className = "thumb"; th.src = api.thumbUrl(rec.id); th.alt = ""; th.loading = "lazy";
  const txt = document.createElement("div"); txt.className = "item-text";
  const nm = document.createElement("div"); nm.className = "item-name"; nm.textContent = rec.name;
  const st = document.createElement("div"); st.className = "item-state";
  const badge = document.createElement("span"); badge.className = `review-badge ${row.status}`;
  badge.textContent = rec.status === "error" ? "error" : STATUS_LABEL[row.status] || row.status;
  const q = document.createElement("span"); q.className = "quality"; q.textContent = qualityText(row.predicted_quality);
  q.title = "predicted quality (estimated Jaccard of the automatic mask)";
  st.append(badge, " · ", q);
  txt.append(nm, st);
  if ((row.flags || []).length) {
    const fl = document.createElement("div"); fl.className = "item-flags";
    for (const f of row.flags) {
      const b = document.createElement("span"); b.className = "flag mini"; b.dataset.flag = f; b.textContent = FLAG_SHORT[f] || f;
      fl.append(b);
    }
    txt.append(fl);
  }
  if (row.reviewer) {
    const who = document.createElement("div"); who.className = "item-state reviewer"; who.textContent = `by ${row.reviewer}`;
    txt.append(who);
  }
  li.title = `${rec.name}: ${STATUS_LABEL[row.status] || row.status}, ${qualityText(row.predicted_quality)}${row.note ? `\nnote: ${row.note}` : ""}`;
  li.append(th, txt);
}

/** Load a workspace image into its rec: the image, the current mask, the automatic mask, the version. */
export async function loadImage(rec) {
  const info = await api.info(rec.id);
  const [png, maskPng, autoPng] = await Promise.all([api.imagePng(rec.id), api.maskPng(rec.id), api.autoPng(rec.id)]);
  Object.assign(rec, { width: info.width, height: info.height, sam: info.sam, version: info.version, dicom: !!info.dicom,
    ws: { ...rec.ws, ...info } });
  rec.bitmap = await createImageBitmap(png);
  rec.mask = await maskFromBlob(maskPng, info.width, info.height);
  rec.auto = { mask: await maskFromBlob(autoPng, info.width, info.height), quality: info.predicted_quality, flags: info.flags,
    source: info.model_version ? `auto: ${info.model_version}` : "" };
  rec.kind = info.mask_kind === "auto" ? "auto" : info.mask_kind === "prompt" ? "prompt" : "edit";
  rec.pixelSize = info.pixel_size || null; rec.pixelSource = info.pixel_size ? "workspace" : null;
  rec.status = "ready"; rec.maskVersion++;
  return rec;
}

export function samLabel(sam, short) {
  return { pending: short ? "prompts: preparing…" : "preparing prompts (embedding)…", ready: short ? "prompts ready" : "ready: prompts are instant",
    evicted: short ? "prompts: on demand" : "embedding evicted: recomputed on the next prompt",
    unavailable: short ? "no prompt model" : "this server has no prompt model" }[sam] || sam || "";
}

/** The list of open images (a session's uploads, or a workspace's rows); items are reachable by keyboard
 * (Tab, then Enter or Space opens). */
export function renderItems(ul, images, current, { select, remove }) {
  ul.replaceChildren();
  images.forEach((rec, i) => {
    const li = document.createElement("li");
    li.className = `item ${i === current ? "current" : ""} ${rec.status}`;
    li.dataset.status = rec.status; li.dataset.sam = rec.sam || "";
    li.title = rec.error || rec.name;
    li.tabIndex = 0; li.setAttribute("role", "button");
    if (i === current) li.setAttribute("aria-current", "true");
    if (rec.ws) fillItem(li, rec);  // a workspace image: review status, quality, flags, reviewer
    else {
      const th = document.createElement(rec.thumb ? "img" : "div");
      th.className = "thumb"; if (rec.thumb) { th.src = rec.thumb; th.alt = ""; }
      const txt = document.createElement("div"); txt.className = "item-text";
      const nm = document.createElement("div"); nm.className = "item-name"; nm.textContent = rec.name;
      const st = document.createElement("div"); st.className = "item-state";
      st.textContent = rec.status === "uploading" ? "segmenting…" : rec.status === "error" ? rec.error
        : `${rec.width}×${rec.height} · ${samLabel(rec.sam, true)}`;
      txt.append(nm, st);
      const del = document.createElement("button");
      del.className = "item-del"; del.textContent = "×"; del.title = "Close this image (deletes it on the server)";
      del.onclick = (e) => { e.stopPropagation(); remove(rec); };
      li.append(th, txt, del);
    }
    li.onclick = () => select(i);
    li.onkeydown = (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); e.stopPropagation(); select(i); } };
    ul.appendChild(li);
  });
}

/** The image list's controller. ctx: {S, viewer, zoom(), review(), updatePanels(), draw(), toast(msg, kind),
 * fail(e), refreshMeasurements(rec)}; returns {openFiles, select, step, remove, render, pollSam}. */
export function createImageList(ctx) {
  const { S } = ctx;
  const $ = (id) => document.getElementById(id);
  const cur = () => current(S);
  let polling = null;

  async function openFiles(files) {
    const list = [...files].filter((f) => f && f.size !== undefined);
    for (const file of list) S.images.push(blankRec(S, { name: file.name, file, status: "uploading" }));
    render();
    for (const rec of S.images.filter((r) => r.status === "uploading" && r.file)) await uploadOne(rec);
    if (S.ws) ctx.review().refresh().catch(ctx.fail);  // uploads join the workspace
  }

  async function uploadOne(rec) {
    try {
      const r = await api.upload(rec.file, rec.pixelSize);
      Object.assign(rec, { id: r.id, width: r.width, height: r.height, sam: r.sam, dicom: !!r.dicom,
        measurements: r.auto.measurements });
      if (r.pixel_size && !rec.pixelSize) { rec.pixelSize = r.pixel_size; rec.pixelSource = "DICOM pixel spacing"; }
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
      ctx.toast(e.message.startsWith(rec.name) ? e.message : `${rec.name}: ${e.message}`);
    }
    render(); ctx.updatePanels(); pollSam();
  }

  function pollSam() {
    if (polling) return;
    polling = setInterval(async () => {
      const waiting = S.images.filter((r) => r.status === "ready" && r.sam === "pending");
      if (!waiting.length) { clearInterval(polling); polling = null; return; }
      for (const rec of waiting) {
        try { const i = await api.info(rec.id); rec.sam = i.sam; } catch (e) { rec.sam = "unknown"; }
      }
      render(); ctx.updatePanels();
    }, 1000);
  }

  function select(i) {
    if (i < 0 || i >= S.images.length) return;
    S.current = i;
    const rec = cur();
    ctx.selected(rec);
    ctx.viewer.setImage(rec.status === "ready" ? rec : null);
    document.body.dataset.current = rec.id || "";
    render(); ctx.updatePanels(); ctx.draw(); ctx.zoom().update();
    if (rec.status === "remote" || (rec.ws && rec.status === "error")) {
      ctx.review().open(rec).then(() => {
        if (rec.status === "ready") { ctx.refreshMeasurements(rec); pollSam(); }
        if (rec === cur()) select(S.current); else render();
      });
    }
  }

  function step(d) {
    if (!S.images.length) return;
    select((Math.max(0, S.current) + d + S.images.length) % S.images.length);
  }

  async function remove(rec) {
    if (rec.id) { try { await api.remove(rec.id); } catch (e) { if (e.status !== 404) return ctx.fail(e); } }
    S.images.splice(S.images.indexOf(rec), 1);
    if (rec.thumb) URL.revokeObjectURL(rec.thumb);
    if (S.current >= S.images.length) S.current = S.images.length - 1;
    if (S.current >= 0) select(S.current);
    else { ctx.viewer.setImage(null); render(); ctx.updatePanels(); ctx.draw(); }
  }

  function render() {
    renderItems($("image-list"), S.images, S.current, { select, remove });
    $("empty-hint").hidden = S.images.length > 0 || !!S.ws;
    $("count").textContent = S.images.length ? `${S.images.length} image${S.images.length > 1 ? "s" : ""}` : "";
  }

  return { openFiles, select, step, remove, render, pollSam };
}
