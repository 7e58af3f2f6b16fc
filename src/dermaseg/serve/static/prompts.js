// The prompt rule in the page, the same as the server's (dermaseg.data.prompts.check_user_prompt, sent as
// GET /api/models `limits`): a point lies on the image's pixels, 0 <= x <= w-1 and 0 <= y <= h-1; a box
// has x0 < x1 and y0 < y1 with both corners on the image; at most `max_points` points (64 unless the server
// says otherwise); one label (0 or 1) per point. The page checks it before sending, so a refused prompt
// never reaches the server. No DOM: tests/js/prompts.test.mjs.

export const RULES = { maxPoints: 64 };

/** Take the server's rule (`limits` of /api/models, or a config's `prompt` part). */
export function setRules(limits) {
  const n = limits && (limits.max_points ?? limits.maxPoints);
  if (Number.isInteger(n) && n > 0) RULES.maxPoints = n;
  return RULES;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);

/** (x, y) on the image's pixels. */
export const inside = (w, h, p) => finite(p.x) && finite(p.y) && p.x >= 0 && p.y >= 0 && p.x <= w - 1 && p.y <= h - 1;

/** The nearest point on the image's pixels. */
export const clampPt = (w, h, p) => ({ x: Math.min(w - 1, Math.max(0, p.x)), y: Math.min(h - 1, Math.max(0, p.y)) });

/** Coordinates are sent with one decimal. */
export const round1 = (v) => Math.round(v * 10) / 10;

/** Why this prompt would be refused (one line, as the server says it), or null when it is valid. */
export function promptError(prompt, w, h, rules = RULES) {
  const { box, points = [], labels } = prompt;
  if (box) {
    if (box.length !== 4 || !box.every(finite)) return `box must be 4 finite numbers x0,y0,x1,y1, got ${box.join(",")}`;
    const [x0, y0, x1, y1] = box;
    if (!(x0 < x1 && y0 < y1)) return `box ${box.join(",")} has no area (give x0 < x1 and y0 < y1)`;
    if (!inside(w, h, { x: x0, y: y0 }) || !inside(w, h, { x: x1, y: y1 })) {
      return `box ${box.join(",")} lies outside the ${w}x${h} image (both corners need x in 0..${w - 1}, y in 0..${h - 1})`;
    }
  }
  if (points.length > rules.maxPoints) return `${points.length} points: at most ${rules.maxPoints} points per prompt`;
  for (const [x, y] of points) {
    if (!inside(w, h, { x, y })) return `point ${x},${y} lies outside the ${w}x${h} image (x in 0..${w - 1}, y in 0..${h - 1})`;
  }
  if (labels && labels.length !== points.length) return `${points.length} points but ${labels.length} point labels`;
  return null;
}

/** Can one more point be added to `prompts`? Null, or why not. */
export const morePointsError = (prompts, rules = RULES) =>
  (prompts.points.length >= rules.maxPoints ? `at most ${rules.maxPoints} points per prompt` : null);

/** A dragged box (two image points, clamped onto the image) -> [x0, y0, x1, y1] rounded, or null when it
 * is too small to be meant (under 2 px either way). */
export function boxFromDrag(w, h, a, b) {
  const p = clampPt(w, h, a), q = clampPt(w, h, b);
  const box = [Math.min(p.x, q.x), Math.min(p.y, q.y), Math.max(p.x, q.x), Math.max(p.y, q.y)];
  return box[2] - box[0] >= 2 && box[3] - box[1] >= 2 ? box.map(round1) : null;
}
