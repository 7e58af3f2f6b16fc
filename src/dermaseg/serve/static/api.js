// dermaseg REST client: every call returns parsed JSON (or a Blob) or throws an Error whose message is
// the server's {"detail": ...} line, ready to show in the page.

export class ApiError extends Error {
  constructor(status, message, body) { super(message); this.status = status; this.body = body || {}; }
}

async function call(method, url, { json, body, headers } = {}) {
  const init = { method, headers: { ...(headers || {}) } };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers["Content-Type"] = "application/json"; }
  else if (body !== undefined) init.body = body;
  let res;
  try { res = await fetch(url, init); }
  catch (e) { throw new ApiError(0, `cannot reach the dermaseg server (${e.message})`); }
  if (res.status === 401 && !url.startsWith("/api/login")) { location.href = "/login"; }  // --auth: signed out
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`, j = null;
    try { j = await res.json(); if (j && j.detail) msg = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); }
    catch (_) { /* not JSON */ }
    throw new ApiError(res.status, msg, j);
  }
  const type = res.headers.get("content-type") || "";
  return type.includes("application/json") ? res.json() : res.blob();
}

// If-Match: the image version an edit is based on (workspace images; a stale one answers 409)
const ifMatch = (version) => (version === undefined || version === null ? {} : { "If-Match": String(version) });
const q = (pixelSize) => (pixelSize ? `?pixel_size=${encodeURIComponent(pixelSize)}` : "");

export const api = {
  health: () => call("GET", "/api/health"),
  models: () => call("GET", "/api/models"),
  config: () => call("GET", "/api/config"),
  me: () => call("GET", "/api/me"),
  logout: () => call("POST", "/api/logout"),
  upload(file, pixelSize) {
    const form = new FormData();
    form.append("file", file, file.name);
    if (pixelSize) form.append("pixel_size", String(pixelSize));
    return call("POST", "/api/images", { body: form });
  },
  info: (id) => call("GET", `/api/images/${id}`),
  // measure: false -> the mask alone (fastest to draw); fetch measurements() afterwards
  predict: (id, prompt, pixelSize, measure = true, version = null) =>
    call("POST", `/api/images/${id}/predict`, { json: { ...prompt, pixel_size: pixelSize || null, measure }, headers: ifMatch(version) }),
  putMask: (id, pngBlob, pixelSize, version = null) =>
    call("PUT", `/api/images/${id}/mask${q(pixelSize)}`, { body: pngBlob, headers: { "Content-Type": "image/png", ...ifMatch(version) } }),
  maskPng: (id) => call("GET", `/api/images/${id}/mask.png`),
  // a DICOM upload's current mask as a DICOM SEG (400 for other images)
  maskDcm: (id) => call("GET", `/api/images/${id}/mask.dcm`),
  imagePng: (id) => call("GET", `/api/images/${id}/image.png`),
  measurements: (id, pixelSize) => call("GET", `/api/images/${id}/measurements${q(pixelSize)}`),
  remove: (id) => call("DELETE", `/api/images/${id}`),
  // workspaces (dermaseg serve --workspace DIR); without one, workspace() is {workspace: false}
  workspace: () => call("GET", "/api/workspace"),
  setWorkspace: (settings) => call("PATCH", "/api/workspace", { json: settings }),
  wsImages(params) {
    const u = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") u.set(k, String(v));
    return call("GET", `/api/workspace/images?${u}`);
  },
  setStatus: (id, status, note, version = null) =>
    call("POST", `/api/images/${id}/status`, { json: note === undefined ? { status } : { status, note }, headers: ifMatch(version) }),
  // the visits of this image's lesion, each compared with the previous one (empty without a lesion_id)
  timeline: (id) => call("GET", `/api/images/${id}/timeline`),
  autoPng: (id) => call("GET", `/api/images/${id}/auto.png`),
  thumbUrl: (id) => `/api/images/${encodeURIComponent(id)}/thumb.jpg`,
};
