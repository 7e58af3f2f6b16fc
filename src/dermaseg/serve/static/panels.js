// The side panels: the automatic mask's predicted quality and flags, and the measurements table.

const FLAGS = {
  empty: "No lesion found",
  "covers-most-of-image": "Mask covers most of the image",
  "predicted-failure": "Low predicted quality (estimated Jaccard < 0.65)",
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
const SINGLE = { asymmetry: "Asymmetry", asymmetry_axes: "Asymmetric axes", compactness: "Compactness", solidity: "Solidity",
  colours: "Colours", n_colours: "Number of colours" };

export function renderMeasurements(el, m, pixelSize) {
  el.replaceChildren();
  const tr = (k, v, key) => {
    const r = document.createElement("tr");
    const th = document.createElement("th"); th.scope = "row"; th.textContent = k;
    const td = document.createElement("td"); td.textContent = v; if (key) td.dataset.key = key;
    r.append(th, td); el.appendChild(r);
  };
  if (m === undefined) { tr("—", "open an image"); return; }
  if (m === null) { tr("—", "measurements are not available on this server"); return; }
  const used = new Set();
  for (const [label, px, mm, u1, u2] of PAIRS) {
    if (!(px in m)) continue;
    used.add(px); used.add(mm);
    const mmText = m[mm] === null || m[mm] === undefined ? (pixelSize ? "—" : "") : ` · ${num(m[mm])} ${u2}`;
    tr(label, `${num(m[px])} ${u1}${mmText}`, px);
  }
  for (const [k, label] of Object.entries(SINGLE)) {
    if (!(k in m)) continue;
    used.add(k);
    const v = m[k];
    tr(label, Array.isArray(v) ? (v.length ? v.join(", ") : "none") : num(v), k);
  }
  for (const [k, v] of Object.entries(m)) {
    if (used.has(k)) continue;
    tr(k.replace(/_/g, " "), Array.isArray(v) ? v.map((x) => num(x)).join(", ") : typeof v === "object" && v !== null ? JSON.stringify(v) : num(v), k);
  }
}
