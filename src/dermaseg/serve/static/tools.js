// The pointer tools, with no DOM: box and point prompts, the brush and the eraser, the ruler. app.js turns
// canvas pointer events into image coordinates and calls down / move / up; the tools change the current
// record (its mask, prompt, undo history) and the transient drawing state `UI` (the box being dragged,
// the ruler, the brush cursor), and call back to draw, prompt, save and calibrate. Node drives them in
// tests/js/tools.test.mjs.

import { paintStroke } from "./mask.js";
import { boxFromDrag, clampPt, inside, morePointsError, promptError, round1 } from "./prompts.js";
import { pushUndo, restore } from "./state.js";

export const TOOLS = ["box", "pos", "neg", "brush", "eraser", "ruler"];

export const HINTS = {
  box: "Drag a box around the lesion.", pos: "Click on the lesion (Shift/right-click: background).",
  neg: "Click on skin that is not lesion.", brush: "Paint lesion; [ and ] change the size.",
  eraser: "Erase lesion; [ and ] change the size.", ruler: "Click both ends of a ruler segment of known length.",
};

/** The keys that pick a tool. */
export const TOOL_KEYS = { b: "box", p: "pos", k: "neg", d: "brush", e: "eraser", r: "ruler" };

/** The transient drawing state (nothing of it is an edit). */
export const createUi = () => ({ dragBox: null, ruler: [], rulerEnd: null, cursor: null, painting: null, boxStart: null });

/** ctx: {S, UI, draw(), runPrompt(rec, t0), syncMask(rec), updatePanels(), fail(err), rulerDone(rec)}.
 * A pointer event `ev` here is {button, shiftKey, altKey} and the image point `p` is {x, y} (float). */
export function createTools(ctx) {
  const { S, UI } = ctx;
  const onImage = (rec, p) => inside(rec.width, rec.height, p);

  function prompt(rec, t0) {
    const why = promptError(rec.prompts, rec.width, rec.height);
    if (why) { if (rec.undo.length) restore(rec, rec.undo.pop()); ctx.fail(new Error(why)); ctx.draw(); return; }
    ctx.runPrompt(rec, t0);
  }

  function addPoint(rec, p, label, t0) {
    if (!onImage(rec, p)) return;
    const why = morePointsError(rec.prompts);
    if (why) { ctx.fail(new Error(why)); return; }
    pushUndo(rec);
    rec.prompts.points.push([round1(p.x), round1(p.y)]); rec.prompts.labels.push(label);
    ctx.draw(); prompt(rec, t0);
  }

  function down(rec, p, ev, t0) {
    const tool = S.tool;
    if (tool === "box") { if (onImage(rec, p)) UI.boxStart = p; }
    else if (tool === "pos" || tool === "neg") {
      const negative = tool === "neg" || ev.button === 2 || ev.shiftKey || ev.altKey;
      addPoint(rec, p, negative ? 0 : 1, t0);
    } else if (tool === "brush" || tool === "eraser") {
      pushUndo(rec); rec.predictSeq++;
      const erase = tool === "eraser" || ev.button === 2;
      UI.painting = { last: p, erase, r: S.brush / 2 };  // the brush size is in image pixels
      paintStroke(rec.mask, rec.width, rec.height, p.x, p.y, p.x, p.y, UI.painting.r, erase ? 0 : 1);
      rec.maskVersion++; ctx.draw();
    } else if (tool === "ruler") {
      if (!onImage(rec, p)) return;
      if (UI.ruler.length !== 1) UI.ruler = [p]; else { UI.ruler.push(p); ctx.rulerDone(rec); }
      ctx.draw();
    }
  }

  function move(rec, p) {
    const tool = S.tool;
    UI.cursor = tool === "brush" || tool === "eraser" ? { ...p, r: S.brush / 2, erase: tool === "eraser" } : null;
    if (UI.boxStart) {
      const q = clampPt(rec.width, rec.height, p), s = UI.boxStart;
      UI.dragBox = [Math.min(s.x, q.x), Math.min(s.y, q.y), Math.max(s.x, q.x), Math.max(s.y, q.y)];
    } else if (UI.painting) {
      const P = UI.painting;
      paintStroke(rec.mask, rec.width, rec.height, P.last.x, P.last.y, p.x, p.y, P.r, P.erase ? 0 : 1);
      P.last = p; rec.maskVersion++;
    } else if (tool === "ruler" && UI.ruler.length === 1) UI.rulerEnd = clampPt(rec.width, rec.height, p);
    ctx.draw();
  }

  function up(rec, t0) {
    if (UI.boxStart) {
      const d = UI.dragBox;
      UI.boxStart = null; UI.dragBox = null;
      const box = d ? boxFromDrag(rec.width, rec.height, { x: d[0], y: d[1] }, { x: d[2], y: d[3] }) : null;
      if (box) { pushUndo(rec); rec.prompts.box = box; ctx.draw(); prompt(rec, t0); } else ctx.draw();
    } else if (UI.painting) {
      UI.painting = null; rec.kind = "edit"; ctx.updatePanels(); ctx.syncMask(rec);
    }
  }

  function cancel() { UI.boxStart = null; UI.dragBox = null; UI.ruler = []; UI.rulerEnd = null; ctx.draw(); }

  return { down, move, up, cancel, addPoint };
}
