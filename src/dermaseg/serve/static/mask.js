// Masks in the page: Uint8Array of width*height, 1 = lesion. Decoded from / encoded to the API's PNG
// (0/255) with the browser's own codecs; brush strokes paint discs in image pixels.

async function bitmapToMask(bitmap, w, h) {
  if (bitmap.width !== w || bitmap.height !== h) throw new Error(`mask is ${bitmap.width}x${bitmap.height}, image ${w}x${h}`);
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  const px = ctx.getImageData(0, 0, w, h).data;
  const m = new Uint8Array(w * h);
  for (let i = 0, j = 0; i < m.length; i++, j += 4) m[i] = px[j] > 127 ? 1 : 0;
  return m;
}

const bitmapOpts = { colorSpaceConversion: "none", premultiplyAlpha: "none" };

export async function maskFromBlob(blob, w, h) {
  return bitmapToMask(await createImageBitmap(blob, bitmapOpts), w, h);
}

export async function maskFromB64(b64, w, h) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return maskFromBlob(new Blob([bytes], { type: "image/png" }), w, h);
}

export async function maskToPng(mask, w, h) {
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(w, h);
  const d = img.data;
  for (let i = 0, j = 0; i < mask.length; i++, j += 4) {
    const v = mask[i] ? 255 : 0;
    d[j] = d[j + 1] = d[j + 2] = v; d[j + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return c.convertToBlob({ type: "image/png" });
}

export function area(mask) {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

// a disc of radius r (image pixels) centred on (cx, cy), set to value (1 brush, 0 eraser)
export function paintDisc(mask, w, h, cx, cy, r, value) {
  const r2 = r * r;
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(h - 1, Math.ceil(cy + r));
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(w - 1, Math.ceil(cx + r));
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      if (dx * dx + dy * dy <= r2) mask[y * w + x] = value;
    }
  }
}

// discs along the segment (x0, y0) -> (x1, y1), spaced a quarter radius apart
export function paintStroke(mask, w, h, x0, y0, x1, y1, r, value) {
  const n = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0) / Math.max(0.5, r / 4)));
  for (let i = 0; i <= n; i++) paintDisc(mask, w, h, x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, r, value);
}
