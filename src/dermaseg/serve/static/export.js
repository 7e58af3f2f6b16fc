// Exports: the mask (the server's PNG, 0/255 at the image's size), the overlay (drawn here at the image's
// size, overlay.js's style), measurements as JSON / CSV, and for an image opened from a DICOM file its
// mask as a DICOM SEG (the server's mask.dcm), per image and for a whole session.
import { api } from "./api.js";
import { paintOverlay } from "./overlay.js";
import { zipStore } from "./zip.js";

export const stem = (name) => (name || "image").replace(/\.[^.]+$/, "").replace(/[^\w.-]+/g, "_") || "image";

export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url; a.download = name; a.style.display = "none";
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
}

// the image with the lesion outlined in the one overlay style (overlay.js: dermaseg segment's overlay, pixel
// for pixel); fill mode also tints the lesion; at the image's full resolution
export async function exportOverlayPng(rec, mode, opacity) {
  const { width: W, height: H, mask } = rec;
  const c = new OffscreenCanvas(W, H);
  const ctx = c.getContext("2d");
  ctx.drawImage(rec.bitmap, 0, 0);
  const img = ctx.getImageData(0, 0, W, H);
  paintOverlay(img.data, mask, W, H, mode, opacity);
  ctx.putImageData(img, 0, 0);
  return c.convertToBlob({ type: "image/png" });
}

export function recordJson(rec) {
  return {
    image: rec.name, width: rec.width, height: rec.height, pixel_size_mm: rec.pixelSize || null,
    pixel_size_source: rec.pixelSource || null, mask: { auto: "automatic", prompt: "prompted (SAM)", edit: "edited" }[rec.kind],
    prompt: rec.kind === "prompt" ? rec.prompts : null,
    automatic: rec.auto ? { predicted_quality: rec.auto.quality, flags: rec.auto.flags, source: rec.auto.source } : null,
    measurements: rec.measurements || null,
  };
}

const cell = (v) => {
  if (v === null || v === undefined) return "";
  if (Array.isArray(v)) v = v.join(";");
  else if (typeof v === "object") v = JSON.stringify(v);
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

// one row per image: image, pixel size, mask kind, automatic quality/flags, then every measurement
export function measurementsCsv(recs) {
  const keys = [];
  for (const r of recs) for (const k of Object.keys(r.measurements || {})) if (!keys.includes(k)) keys.push(k);
  const head = ["image", "width", "height", "pixel_size_mm", "mask", "predicted_quality", "flags", ...keys];
  const rows = recs.map((r) => {
    const j = recordJson(r);
    return [j.image, j.width, j.height, j.pixel_size_mm, j.mask, j.automatic && j.automatic.predicted_quality,
      j.automatic && j.automatic.flags, ...keys.map((k) => (r.measurements || {})[k])].map(cell).join(",");
  });
  return [head.join(","), ...rows].join("\n") + "\n";
}

// files for one image in a session export (names made unique by the caller's list order)
export async function exportRecordFiles(rec, view, what) {
  const s = stem(rec.name);
  const out = [];
  const bytes = async (blob) => new Uint8Array(await blob.arrayBuffer());
  if (what.mask) out.push({ name: `${s}_mask.png`, data: await bytes(await api.maskPng(rec.id)) });
  if (what.overlay) out.push({ name: `${s}_overlay.png`, data: await bytes(await exportOverlayPng(rec, view.mode, view.opacity)) });
  if (what.dicom && rec.dicom) out.push({ name: `${s}_seg.dcm`, data: await bytes(await api.maskDcm(rec.id)) });
  if (what.json) out.push({ name: `${s}_measurements.json`, data: new TextEncoder().encode(JSON.stringify(recordJson(rec), null, 2)) });
  return out;
}

// the export buttons; ctx: {cur() -> current record, images() -> all records, view() -> {mode, opacity}, fail(e)}
export function wireExports(ctx) {
  const $ = (id) => document.getElementById(id);
  const settled = async (rec) => { await rec.sync; await rec.measuring; };  // edits saved, measurements fresh
  const withRec = async (fn) => {
    const rec = ctx.cur(); if (!rec || rec.status !== "ready") return;
    try { await settled(rec); await fn(rec); } catch (e) { ctx.fail(e); }
  };
  $("export-mask").onclick = () => withRec(async (rec) => download(await api.maskPng(rec.id), `${stem(rec.name)}_mask.png`));
  $("export-overlay").onclick = () => withRec(async (rec) => {
    const v = ctx.view();
    download(await exportOverlayPng(rec, v.mode, v.opacity), `${stem(rec.name)}_overlay.png`);
  });
  $("export-json").onclick = () => withRec(async (rec) => {
    const f = (await exportRecordFiles(rec, ctx.view(), { json: true }))[0];
    download(new Blob([f.data], { type: "application/json" }), f.name);
  });
  $("export-dicom").onclick = () => withRec(async (rec) => download(await api.maskDcm(rec.id), `${stem(rec.name)}_seg.dcm`));
  $("export-csv").onclick = () => withRec(async (rec) =>
    download(new Blob([measurementsCsv([rec])], { type: "text/csv" }), `${stem(rec.name)}_measurements.csv`));
  $("export-session").onclick = async () => {
    try {
      const recs = ctx.images().filter((r) => r.status === "ready");
      const files = [];
      for (const rec of recs) { await settled(rec); files.push(...(await exportRecordFiles(rec, ctx.view(), { json: true, mask: true, overlay: true, dicom: true }))); }
      files.push({ name: "measurements.csv", data: new TextEncoder().encode(measurementsCsv(recs)) });
      download(zipStore(files), "dermaseg_session.zip");
    } catch (e) { ctx.fail(e); }
  };
}
