// The side panels: the automatic mask's predicted quality and flags, and the measurements table.

const FLAGS = {
  empty: "No lesion found",
  "covers-most-of-image": "Mask covers most of the image",
  "predicted-failure": "Low predicted quality (estimated Jaccard < 0.65)",
  review: "Check: predicted quality between 0.65 and 0.80",
};

const num = (v, digits = 3) => {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return v.toLocaleString();
  const a = Math.abs(v);
  return a >= 1000 ? Math.round(v).toLocaleString() : Number(v.toPrecision(digits)).toString();
};

export function renderAuto(el, rec) {
  el.replaceChildren();
  if (!rec || !rec.auto) { el.textContent = "—"; return; }
  const q = rec.auto.quality;
  const row = (k, v, cls) => { const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = v; if (cls) dd.className = cls; el.append(dt, dd); };
  row("Predicted quality", q === null || q === undefined ? "not estimated by this model" : `${num(q, 2)} (estimated Jaccard)`);
  const flags = rec.auto.flags || [];
  const dt = document.createElement("dt"); dt.textContent = "Flags";
  const dd = document.createElement("dd");
  if (!flags.length) { dd.textContent = "none"; dd.className = "ok"; }
  for (const f of flags) { const b = document.createElement("span"); b.className = "flag"; b.dataset.flag = f; b.textContent = FLAGS[f] || f; dd.appendChild(b); }
  el.append(dt, dd);
  row("Model", (rec.auto.source || "").replace(/^auto: /, ""), "muted");
}

const PAIRS = [
  ["Area", "area_px", "area_mm2", "px", "mm²"],
  ["Perimeter", "perimeter_px", "perimeter_mm", "px", "mm"],
  ["Diameter (max.)", "diameter_px", "diameter_mm", "px", "mm"],
];
const SINGLE = { asymmetry: "Asymmetry", asymmetry_axes: "Asymmetric axes (A)",
  asymmetry_grade: "Asymmetry grade (0-2, shape + colour)", border_score: "Border score (B)",
  n_colours: "Colours (C)", colours: "Colour names", diameter_over_6mm: "Diameter > 6 mm (D)", compactness: "Compactness",
  solidity: "Solidity", measure_version: "Measurement rules version" };

const fmtValue = (v) => (Array.isArray(v) ? (v.length ? v.map((x) => num(x)).join(", ") : "none")
  : typeof v === "boolean" ? (v ? "yes" : "no") : v !== null && typeof v === "object" ? JSON.stringify(v) : num(v));

function row(tbody, k, v, key) {
  const r = document.createElement("tr");
  const th = document.createElement("th"); th.scope = "row"; th.textContent = k;
  const td = document.createElement("td"); td.textContent = v; if (key) td.dataset.key = key;
  r.append(th, td); tbody.appendChild(r);
}

let extraOpen = false;

// the measurements of the current mask: the ABCD summary first, every other value under "More"
export function renderMeasurements(el, m, pixelSize) {
  el.replaceChildren();
  const main = document.createElement("table"); main.className = "measure";
  const tb = document.createElement("tbody"); main.appendChild(tb); el.appendChild(main);
  if (m === undefined) { el.dataset.state = ""; row(tb, "—", "open an image"); return; }
  if (m === null) { row(tb, "—", "not available"); return; }
  if (m === "updating") { el.dataset.state = "updating"; row(tb, "…", "updating (measuring the new mask)"); return; }
  el.dataset.state = "";
  const used = new Set();
  for (const [label, px, mm, u1, u2] of PAIRS) {
    if (!(px in m)) continue;
    used.add(px); used.add(mm);
    const mmText = m[mm] === null || m[mm] === undefined ? "" : ` · ${num(m[mm])} ${u2}`;
    row(tb, label, `${num(m[px])} ${u1}${mmText}`, px);
  }
  for (const [k, label] of Object.entries(SINGLE)) {
    if (!(k in m)) continue;
    used.add(k);
    if (k === "diameter_over_6mm" && m[k] === null) continue;
    row(tb, label, fmtValue(m[k]), k);
  }
  if (!pixelSize) {
    const p = document.createElement("p"); p.className = "muted small"; p.textContent = "Set a pixel size (Scale) for millimetres.";
    el.appendChild(p);
  }
  const rest = Object.entries(m).filter(([k]) => !used.has(k));
  if (!rest.length) return;
  const det = document.createElement("details");
  det.open = extraOpen;
  det.addEventListener("toggle", () => { extraOpen = det.open; });
  const sum = document.createElement("summary"); sum.textContent = `All measurements (${rest.length} more)`;
  const t2 = document.createElement("table"); t2.className = "measure extra";
  const tb2 = document.createElement("tbody"); t2.appendChild(tb2);
  for (const [k, v] of rest) row(tb2, k.replace(/_/g, " "), fmtValue(v), k);
  det.append(sum, t2); el.appendChild(det);
}
