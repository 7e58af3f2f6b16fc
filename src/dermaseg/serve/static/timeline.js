// The open image's lesion over time (a workspace, GET /api/images/{id}/timeline): its visits in date order
// and, between each two, the comparison of the later with the earlier (compare/timeline.py): the change in
// area, diameter, asymmetry and colours, and the flag, set only beyond the measured repeatability.
// `describeComparison` and `visitLabel` are pure (tests/js/timeline.test.mjs); `createTimeline` renders
// into the page's Timeline panel and opens a visit when it is clicked.

import { api } from "./api.js";

const STATUS = {
  compared: null, registration_failed: "registration failed: not compared",
  lesion_not_in_view: "lesion not whole in view: not judged", empty_mask: "an empty mask: not compared",
};
const EXCEEDED = { area_pct: "area", diameter_pct: "diameter", asymmetry: "asymmetry", border: "border",
  dice: "shape (overlap)", colours: "colours" };

const signed = (v, digits = 2) => `${v > 0 ? "+" : v < 0 ? "−" : "±"}${Math.abs(v).toFixed(digits)}`;

/** One comparison as {flag: "changed" | "unchanged" | "not-judged", title, lines: [text]}. */
export function describeComparison(c) {
  const ch = c.change || {};
  const lines = [];
  if (ch.area_mm2 !== null && ch.area_mm2 !== undefined) {
    lines.push(`area ${signed(ch.area_mm2)} mm²${ch.area_pct !== null && ch.area_pct !== undefined ? ` (${signed(ch.area_pct, 1)} %)` : ""}`);
  } else if (ch.area_pct !== null && ch.area_pct !== undefined) lines.push(`area ${signed(ch.area_pct, 1)} %`);
  if (ch.diameter_mm !== null && ch.diameter_mm !== undefined) lines.push(`diameter ${signed(ch.diameter_mm)} mm`);
  else if (ch.diameter_pct !== null && ch.diameter_pct !== undefined) lines.push(`diameter ${signed(ch.diameter_pct, 1)} %`);
  if (ch.asymmetry !== null && ch.asymmetry !== undefined) lines.push(`asymmetry ${signed(ch.asymmetry, 3)}`);
  const gained = ch.colours_gained || [], lost = ch.colours_lost || [];
  if (gained.length || lost.length) {
    lines.push(`colours ${[...gained.map((x) => `+${x}`), ...lost.map((x) => `−${x}`)].join(", ")}`);
  }
  const why = STATUS[c.status];
  if (why !== null && why !== undefined) return { flag: "not-judged", title: why, lines };
  if (c.status !== "compared") return { flag: "not-judged", title: c.status || "not compared", lines };
  if (c.changed) {
    const what = (c.exceeded || []).map((k) => EXCEEDED[k] || k).join(", ");
    return { flag: "changed", title: `changed: ${what} beyond repeatability`, lines };
  }
  return { flag: "unchanged", title: "no change beyond repeatability", lines };
}

/** A visit's label: its date (or "no date") and name. */
export const visitLabel = (v) => `${v.date || "no date"} · ${v.name}`;

/** The Timeline panel. ctx: {S, cur(), openImage(visit)}; `show(rec)` after an image is opened. */
export function createTimeline(ctx) {
  const $ = (id) => document.getElementById(id);
  let shownFor = null, seq = 0;

  function render(t, rec) {
    const box = $("timeline-body");
    box.replaceChildren();
    const visits = t.visits || [];
    $("timeline").hidden = visits.length < 2;
    if (visits.length < 2) return;
    $("timeline-head").textContent = `Lesion ${t.lesion_id}: ${visits.length} visits`;
    const ol = document.createElement("ol");
    ol.className = "timeline";
    visits.forEach((v, i) => {
      if (i > 0) {
        const c = t.comparisons[i - 1], d = describeComparison(c);
        const li = document.createElement("li");
        li.className = "cmp"; li.dataset.flag = d.flag;
        const b = document.createElement("span"); b.className = "cmp-flag"; b.textContent = d.title;
        li.append(b);
        for (const line of d.lines) { const s = document.createElement("div"); s.className = "cmp-line"; s.textContent = line; li.append(s); }
        ol.append(li);
      }
      const li = document.createElement("li");
      li.className = `visit${v.id === rec.id ? " current" : ""}`; li.dataset.id = v.id;
      const btn = document.createElement("button");
      btn.type = "button"; btn.textContent = visitLabel(v); btn.disabled = v.id === rec.id;
      btn.title = v.id === rec.id ? "this image" : "Open this visit";
      btn.onclick = () => ctx.openImage(v);
      li.append(btn);
      ol.append(li);
    });
    box.append(ol);
  }

  async function show(rec) {
    if (!ctx.S.ws || !rec || rec.status !== "ready" || !rec.id) { $("timeline").hidden = true; shownFor = null; return; }
    const key = `${rec.id}:${rec.version}`;
    if (key === shownFor) return;
    shownFor = key;
    const mine = ++seq;
    $("timeline-head").textContent = "comparing visits…";
    try {
      const t = await api.timeline(rec.id);
      if (mine === seq && rec === ctx.cur()) render(t, rec);
    } catch (e) { if (mine === seq) { $("timeline").hidden = true; shownFor = null; } }
  }

  return { show };
}
