// The image viewer: the image fitted to the canvas (or zoomed and panned: zoomAt, panBy, setZoom), the
// mask as a fill or an outline at display resolution over the visible part only, and the prompts (box,
// lesion/background points), the ruler and the brush cursor on top.

import { OVERLAY } from "./overlay.js";  // the one overlay colour (dermaseg segment's overlays)

const BOX = "#00c8ff";
const POS = "#16a34a", NEG = "#dc2626";

export class Viewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.img = null;
    this.scale = 1; this.ox = 0; this.oy = 0; this.fitted = true;
    this._overlay = null; this._overlayKey = "";
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const r = this.canvas.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width * dpr)), h = Math.max(1, Math.round(r.height * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      const cx = this.canvas.width / 2, cy = this.canvas.height / 2;
      this.canvas.width = w; this.canvas.height = h;
      if (!this.fitted) { this.ox += w / 2 - cx; this.oy += h / 2 - cy; this._overlayKey = ""; }  // keep the centre
    }
    if (this.fitted) this.fit();
  }

  fit() {
    this.fitted = true;
    if (!this.img) return;
    const { width: W, height: H } = this.img;
    const pad = 8 * (window.devicePixelRatio || 1);
    this.scale = Math.min((this.canvas.width - 2 * pad) / W, (this.canvas.height - 2 * pad) / H);
    this.ox = Math.round((this.canvas.width - W * this.scale) / 2);
    this.oy = Math.round((this.canvas.height - H * this.scale) / 2);
    this._overlayKey = "";
  }

  setImage(img) { this.img = img; this.fit(); }

  // zoom in percent: 100 = one image pixel per CSS pixel
  zoomPercent() { return (100 * this.scale) / (window.devicePixelRatio || 1); }

  // zoom by factor about a canvas point (default: the canvas centre), within 5 %..1600 %
  zoomAt(factor, cx = this.canvas.width / 2, cy = this.canvas.height / 2) {
    if (!this.img) return;
    const dpr = window.devicePixelRatio || 1;
    const s = Math.min(16 * dpr, Math.max(0.05 * dpr, this.scale * factor));
    this.ox = cx - ((cx - this.ox) * s) / this.scale;
    this.oy = cy - ((cy - this.oy) * s) / this.scale;
    this.scale = s; this.fitted = false; this._overlayKey = "";
  }

  setZoom(percent) { this.zoomAt((percent * (window.devicePixelRatio || 1)) / 100 / this.scale); }

  // pan by canvas pixels
  panBy(dx, dy) { if (!this.img) return; this.ox += dx; this.oy += dy; this.fitted = false; this._overlayKey = ""; }

  // client (CSS) coordinates -> canvas pixels
  clientToCanvas(ev) {
    const r = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / r.width;
    return [(ev.clientX - r.left) * dpr, (ev.clientY - r.top) * dpr];
  }

  // client (CSS) coordinates of an event -> image pixel coordinates (float, may be outside the image)
  toImage(ev) {
    const r = this.canvas.getBoundingClientRect();
    const dpr = this.canvas.width / r.width;
    return { x: ((ev.clientX - r.left) * dpr - this.ox) / this.scale, y: ((ev.clientY - r.top) * dpr - this.oy) / this.scale };
  }

  // image pixels -> canvas pixels
  toCanvas(x, y) { return [this.ox + x * this.scale, this.oy + y * this.scale]; }

  // CSS pixels -> image pixels (brush radius)
  cssToImage(px) {
    const r = this.canvas.getBoundingClientRect();
    return (px * (this.canvas.width / r.width)) / this.scale;
  }

  // the visible part of the image in canvas pixels: [x0, y0, x1, y1] (integers), or null
  visible() {
    const { width: W, height: H } = this.img;
    const x0 = Math.max(0, Math.floor(this.ox)), y0 = Math.max(0, Math.floor(this.oy));
    const x1 = Math.min(this.canvas.width, Math.ceil(this.ox + W * this.scale));
    const y1 = Math.min(this.canvas.height, Math.ceil(this.oy + H * this.scale));
    return x1 > x0 && y1 > y0 ? [x0, y0, x1, y1] : null;
  }

  overlay(mask, version, mode, opacity) {
    const { width: W, height: H } = this.img;
    const v = this.visible();
    if (!v) return null;
    const [vx, vy] = v, dw = v[2] - v[0], dh = v[3] - v[1];
    const key = `${version}|${mode}|${opacity}|${v}|${this.ox}|${this.oy}|${this.scale}|${OVERLAY.rgb}`;
    if (this._overlay && key === this._overlayKey) return this._overlay;
    const xs = new Int32Array(dw), ys = new Int32Array(dh);
    for (let i = 0; i < dw; i++) xs[i] = Math.min(W - 1, Math.max(0, Math.floor((vx + i + 0.5 - this.ox) / this.scale)));
    for (let j = 0; j < dh; j++) ys[j] = Math.min(H - 1, Math.max(0, Math.floor((vy + j + 0.5 - this.oy) / this.scale))) * W;
    const dm = new Uint8Array(dw * dh);
    for (let j = 0, k = 0; j < dh; j++) { const row = ys[j]; for (let i = 0; i < dw; i++, k++) dm[k] = mask[row + xs[i]]; }
    const c = this._overlayCanvas && this._overlayCanvas.width === dw && this._overlayCanvas.height === dh
      ? this._overlayCanvas : (this._overlayCanvas = new OffscreenCanvas(dw, dh));
    const ctx = c.getContext("2d");
    const id = ctx.createImageData(dw, dh);
    const d = id.data;
    const a = Math.round(255 * opacity);
    const LESION = OVERLAY.rgb;
    if (mode === "fill") {
      for (let k = 0, p = 0; k < dm.length; k++, p += 4) if (dm[k]) { d[p] = LESION[0]; d[p + 1] = LESION[1]; d[p + 2] = LESION[2]; d[p + 3] = a; }
    } else {  // outline: both pixels of every lesion/background transition (a 2 px line), and the frame
      const e = new Uint8Array(dm.length);
      // the image's own frame, not the edges of the visible part when zoomed in
      const fl = vx <= this.ox + 1, ft = vy <= this.oy + 1;
      const fr = v[2] >= this.ox + W * this.scale - 1, fb = v[3] >= this.oy + H * this.scale - 1;
      for (let j = 0, k = 0; j < dh; j++) for (let i = 0; i < dw; i++, k++) {
        const v = dm[k];
        if (i + 1 < dw && dm[k + 1] !== v) { e[k] = 1; e[k + 1] = 1; }
        if (j + 1 < dh && dm[k + dw] !== v) { e[k] = 1; e[k + dw] = 1; }
        if (v && ((i === 0 && fl) || (j === 0 && ft) || (i === dw - 1 && fr) || (j === dh - 1 && fb))) e[k] = 1;
      }
      const oa = Math.max(a, 200);
      for (let k = 0, p = 0; k < e.length; k++, p += 4) if (e[k]) { d[p] = LESION[0]; d[p + 1] = LESION[1]; d[p + 2] = LESION[2]; d[p + 3] = oa; }
    }
    ctx.putImageData(id, 0, 0);
    this._overlay = { canvas: c, x: vx, y: vy }; this._overlayKey = key;
    return this._overlay;
  }

  render(s) {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.img || !this.img.bitmap) return;
    const { width: W, height: H } = this.img;
    ctx.imageSmoothingEnabled = this.scale < 2;  // zoomed in: the image's own pixels, for inspecting borders
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.img.bitmap, this.ox, this.oy, W * this.scale, H * this.scale);
    const ov = s.mask && s.showMask ? this.overlay(s.mask, s.maskVersion, s.mode, s.opacity) : null;
    if (ov) ctx.drawImage(ov.canvas, ov.x, ov.y);
    const dpr = window.devicePixelRatio || 1;
    const box = s.dragBox || (s.prompts && s.prompts.box);
    if (box) {
      const [x0, y0] = this.toCanvas(box[0], box[1]), [x1, y1] = this.toCanvas(box[2], box[3]);
      ctx.lineWidth = 2 * dpr; ctx.strokeStyle = BOX; ctx.setLineDash(s.dragBox ? [6 * dpr, 4 * dpr] : []);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0); ctx.setLineDash([]);
    }
    if (s.prompts) s.prompts.points.forEach((p, i) => this._point(p, s.prompts.labels[i], dpr));
    if (s.ruler && s.ruler.length) this._ruler(s.ruler, s.rulerEnd, dpr);
    else if (s.savedRuler) this._ruler([s.savedRuler.a, s.savedRuler.b], null, dpr, s.savedRuler.label);
    if (s.cursor) {
      const [cx, cy] = this.toCanvas(s.cursor.x, s.cursor.y);
      ctx.beginPath(); ctx.arc(cx, cy, s.cursor.r * this.scale, 0, 2 * Math.PI);
      ctx.lineWidth = 1.5 * dpr; ctx.strokeStyle = s.cursor.erase ? "#f87171" : "#ffffff"; ctx.stroke();
    }
  }

  _point(p, label, dpr) {
    const ctx = this.ctx;
    const [x, y] = this.toCanvas(p[0], p[1]);
    const r = 7 * dpr;
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = label ? POS : NEG; ctx.fill();
    ctx.lineWidth = 2 * dpr; ctx.strokeStyle = "#fff"; ctx.stroke();
    ctx.beginPath(); ctx.moveTo(x - r * 0.55, y); ctx.lineTo(x + r * 0.55, y);
    if (label) { ctx.moveTo(x, y - r * 0.55); ctx.lineTo(x, y + r * 0.55); }
    ctx.stroke();
  }

  _ruler(pts, end, dpr, label) {
    const ctx = this.ctx;
    const a = pts[0], b = pts[1] || end;
    const [ax, ay] = this.toCanvas(a.x, a.y);
    ctx.lineWidth = 2 * dpr; ctx.strokeStyle = "#e879f9"; ctx.fillStyle = "#e879f9";
    if (b) {
      const [bx, by] = this.toCanvas(b.x, b.y);
      ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
      ctx.beginPath(); ctx.arc(bx, by, 4 * dpr, 0, 2 * Math.PI); ctx.fill();
      if (label) {
        ctx.font = `600 ${12 * dpr}px system-ui, sans-serif`;
        const w = ctx.measureText(label).width, mx = (ax + bx) / 2, my = (ay + by) / 2 - 10 * dpr;
        ctx.fillStyle = "rgba(20, 20, 28, .75)"; ctx.fillRect(mx - w / 2 - 4 * dpr, my - 10 * dpr, w + 8 * dpr, 16 * dpr);
        ctx.fillStyle = "#fff"; ctx.textAlign = "center"; ctx.fillText(label, mx, my + 2 * dpr); ctx.textAlign = "start";
        ctx.fillStyle = "#e879f9";
      }
    }
    ctx.beginPath(); ctx.arc(ax, ay, 4 * dpr, 0, 2 * Math.PI); ctx.fill();
  }
}
