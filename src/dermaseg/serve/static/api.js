// dermaseg REST client: every call returns parsed JSON (or a Blob) or throws an Error whose message is
// the server's {"detail": ...} line, ready to show in the page.

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
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
    let msg = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); if (j && j.detail) msg = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); }
    catch (_) { /* not JSON */ }
    throw new ApiError(res.status, msg);
  }
  const type = res.headers.get("content-type") || "";
  return type.includes("application/json") ? res.json() : res.blob();
}

const q = (pixelSize) => (pixelSize ? `?pixel_size=${encodeURIComponent(pixelSize)}` : "");

export const api = {
  health: () => call("GET", "/api/health"),
  models: () => call("GET", "/api/models"),
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
  predict: (id, prompt, pixelSize, measure = true) =>
    call("POST", `/api/images/${id}/predict`, { json: { ...prompt, pixel_size: pixelSize || null, measure } }),
  putMask: (id, pngBlob, pixelSize) =>
    call("PUT", `/api/images/${id}/mask${q(pixelSize)}`, { body: pngBlob, headers: { "Content-Type": "image/png" } }),
  maskPng: (id) => call("GET", `/api/images/${id}/mask.png`),
  imagePng: (id) => call("GET", `/api/images/${id}/image.png`),
  measurements: (id, pixelSize) => call("GET", `/api/images/${id}/measurements${q(pixelSize)}`),
  remove: (id) => call("DELETE", `/api/images/${id}`),
};
