// The image's scale: a typed pixel size (mm per pixel) or a ruler calibration (two clicks on a ruler's
// ends, then its length in millimetres). Measurements in millimetres follow it. In a workspace a typed
// pixel size is the workspace's default (PATCH /api/workspace: kept, for every image); a ruler, this image's.

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);

/** Wire the Scale panel; returns {rulerDone(rec)} (called by the ruler tool after its second click). */
export function wireScale({ S, UI, cur, toast, refreshMeasurements, updatePanels, draw }) {
  function rulerDone(rec) {
    const [a, b] = UI.ruler;
    const px = Math.hypot(b.x - a.x, b.y - a.y);
    UI.rulerEnd = null;
    $("ruler-px").textContent = `${px.toFixed(1)} px`;
    $("ruler-form").hidden = false;
    $("ruler-mm").focus(); $("ruler-mm").select();
    UI.rulerPx = px;
  }
  function setPixelSize(rec, v, source) {
    if (!(v > 0) || !Number.isFinite(v)) return toast("pixel size must be a positive number of millimetres");
    rec.pixelSize = v; rec.pixelSource = source; S.defaultPixelSize = v;
    refreshMeasurements(rec);
    updatePanels();
  }
  $("ruler-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const rec = cur(); const mm = parseFloat($("ruler-mm").value);
    if (!rec || !UI.rulerPx) return;
    if (!(mm > 0)) return toast("type the ruler segment's length in millimetres");
    setPixelSize(rec, mm / UI.rulerPx, `ruler: ${mm} mm over ${UI.rulerPx.toFixed(1)} px`);
    rec.ruler = { a: UI.ruler[0], b: UI.ruler[1], label: `${mm} mm` };
    UI.ruler = []; UI.rulerEnd = null;
    $("ruler-form").hidden = true;
    draw();
  });
  $("pixel-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const rec = cur(); if (!rec || rec.status !== "ready") return;
    const v = $("pixel-size").value.trim();
    if (v === "") { rec.pixelSize = null; rec.pixelSource = null; refreshMeasurements(rec); return; }
    const mm = parseFloat(v);
    if (S.ws && mm > 0 && Number.isFinite(mm)) {  // a workspace: the default of every image, kept on the server
      api.setWorkspace({ pixel_size: mm }).then((info) => {
        S.ws = info;
        for (const r of S.images) if (r.status === "ready" && r.pixelSource === "workspace" && r !== rec) r.pixelSize = mm;
        setPixelSize(rec, mm, "workspace");
      }).catch((err) => toast(err.message));
      return;
    }
    setPixelSize(rec, mm, "typed");
  });
  return { rulerDone };
}
