// The overlay's one style in the page, the one of dermaseg segment's <stem>_overlay.png (overlays.py:
// OUTLINE_RGB, and draw_overlay's outline: the mask pixels within t px of the background or of the image's
// border, t = round(longest side / 300), at least 1). OVERLAY is the one JS constant: export.js draws the
// exported overlay with it, view.js the mask on screen (at screen resolution) in its colour.
// `setOverlayStyle` takes the server's values (GET /api/config's overlay style, when the server has one),
// so the Python constants stay the one home. No DOM: tests/js/overlay.test.mjs, and
// tests/serve/test_page_modules.py checks it pixel for pixel against overlays.draw_overlay.

export const OVERLAY = {
  rgb: [255, 255, 0],   // overlays.OUTLINE_RGB
  pxPerWidth: 300,      // draw_overlay: 1 px of outline per 300 px of the image's longest side
};

/** Take the server's overlay style: {rgb | outline_rgb: [r, g, b], px_per_width | pxPerWidth: n}; bad values are ignored. */
export function setOverlayStyle(style) {
  if (!style) return OVERLAY;
  const rgb = style.rgb || style.outline_rgb;
  if (Array.isArray(rgb) && rgb.length === 3 && rgb.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) OVERLAY.rgb = [...rgb];
  const n = style.px_per_width ?? style.pxPerWidth;
  if (typeof n === "number" && n > 0 && Number.isFinite(n)) OVERLAY.pxPerWidth = n;
  return OVERLAY;
}

// Python's round(): halves to the even integer (round(2.5) == 2), so widths match overlays.py's exactly
const roundHalfEven = (v) => { const f = Math.floor(v), d = v - f; return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f; };

/** The outline's width in pixels for a w x h image. */
export const outlineWidth = (w, h) => Math.max(1, roundHalfEven(Math.max(w, h) / OVERLAY.pxPerWidth));

/** Uint8Array w*h: the mask pixels within `t` px (square neighbourhood) of a background pixel or of the
 * image's border (overlays.outline: the mask minus its erosion by a (2t+1)^2 square, outside = background). */
export function outlineBand(mask, w, h, t) {
  // a pixel survives the erosion when its (2t+1)^2 window lies on the image and holds no background:
  // first along rows (count of background pixels in the window, by prefix sums), then along columns
  const rowOk = new Uint8Array(w * h), pre = new Int32Array(w + 1);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) pre[x + 1] = pre[x] + (mask[y * w + x] ? 0 : 1);
    for (let x = t; x < w - t; x++) rowOk[y * w + x] = pre[x + t + 1] - pre[x - t] === 0 ? 1 : 0;
  }
  const band = new Uint8Array(w * h), col = new Int32Array(h + 1);
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) col[y + 1] = col[y] + (rowOk[y * w + x] ? 0 : 1);
    for (let y = 0; y < h; y++) {
      const k = y * w + x;
      const kept = y >= t && y < h - t && col[y + t + 1] - col[y - t] === 0;
      band[k] = mask[k] && !kept ? 1 : 0;
    }
  }
  return band;
}

/** Draw the overlay into RGBA pixels `d` (an ImageData's data, the image at full size): the outline in
 * OVERLAY.rgb; `mode` "fill" also tints the lesion by `opacity`. */
export function paintOverlay(d, mask, w, h, mode = "outline", opacity = 0) {
  const band = outlineBand(mask, w, h, outlineWidth(w, h));
  const [r, g, b] = OVERLAY.rgb;
  const a = mode === "fill" ? opacity : 0;
  for (let k = 0, p = 0; k < mask.length; k++, p += 4) {
    if (band[k]) { d[p] = r; d[p + 1] = g; d[p + 2] = b; }
    else if (mask[k] && a > 0) {
      d[p] = d[p] * (1 - a) + r * a; d[p + 1] = d[p + 1] * (1 - a) + g * a; d[p + 2] = d[p + 2] * (1 - a) + b * a;
    }
  }
  return d;
}
