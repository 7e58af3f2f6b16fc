// Zoom and pan of the viewer: the mouse wheel zooms about the cursor, + / - / 0 / 1 zoom in, out, fit and
// 100 %, dragging with the middle button or with Space held pans. The toolbar's zoom box shows the zoom in
// percent (100 % = one image pixel per CSS pixel).

const STEP = Math.SQRT2;  // 100 % -> 400 % in four steps

/** Wire zoom and pan on `canvas`; returns {pointerDown, pointerMove, pointerUp, key, update}: the pointer
 * handlers answer true when the event was a pan (the tools then leave it alone). */
export function wireZoom({ viewer, canvas, draw, label, buttons }) {
  let space = false, pan = null;

  function update() {
    if (label) label.textContent = viewer.img ? `${Math.round(viewer.zoomPercent())} %` : "—";
    canvas.classList.toggle("panning", !!pan || space);
  }
  const redraw = () => { update(); draw(); };

  canvas.addEventListener("wheel", (ev) => {
    if (!viewer.img) return;
    ev.preventDefault();
    const [cx, cy] = viewer.clientToCanvas(ev);
    viewer.zoomAt(Math.exp(-Math.max(-300, Math.min(300, ev.deltaY)) * 0.002), cx, cy);
    redraw();
  }, { passive: false });
  canvas.addEventListener("auxclick", (ev) => { if (ev.button === 1) ev.preventDefault(); });

  const zoomIn = () => { viewer.zoomAt(STEP); redraw(); };
  const zoomOut = () => { viewer.zoomAt(1 / STEP); redraw(); };
  const fit = () => { viewer.fit(); redraw(); };
  const actual = () => { viewer.setZoom(100); redraw(); };
  if (buttons) {
    if (buttons.in) buttons.in.onclick = zoomIn;
    if (buttons.out) buttons.out.onclick = zoomOut;
    if (buttons.fit) buttons.fit.onclick = fit;
  }
  document.addEventListener("keyup", (e) => { if (e.key === " ") { space = false; update(); } });
  window.addEventListener("blur", () => { space = false; pan = null; update(); });

  return {
    update,
    pointerDown(ev) {
      if (!viewer.img || !(ev.button === 1 || space)) return false;
      ev.preventDefault();
      pan = { x: ev.clientX, y: ev.clientY };
      update();
      return true;
    },
    pointerMove(ev) {
      if (!pan) return false;
      const k = canvas.width / canvas.getBoundingClientRect().width;
      viewer.panBy((ev.clientX - pan.x) * k, (ev.clientY - pan.y) * k);
      pan = { x: ev.clientX, y: ev.clientY };
      draw();
      return true;
    },
    pointerUp() { if (!pan) return false; pan = null; update(); return true; },
    // keydown (not typing): true when handled
    key(e) {
      if (e.key === " " && e.target.tagName !== "BUTTON") { space = true; update(); e.preventDefault(); return true; }
      const acts = { "+": zoomIn, "=": zoomIn, "-": zoomOut, _: zoomOut, 0: fit, 1: actual };
      if (!acts[e.key] || !viewer.img) return false;
      e.preventDefault(); acts[e.key](); return true;
    },
  };
}
