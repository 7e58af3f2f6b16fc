// Review of a workspace in the page: the list from the server (list.js), the filters, "next to review",
// approve / skip / note (POST /api/images/{id}/status with If-Match), and the panel that says the image's
// status and reviewer. Without a workspace the page says that nothing is kept (ephemeral).

import { api } from "./api.js";
import { STATUS_LABEL, fetchRows, loadImage, nextToReview } from "./list.js";
import { pending, queueWrite } from "./sync.js";

const $ = (id) => document.getElementById(id);

/** ctx: {S, cur, newRec(row), select(i), renderList(), updatePanels(), draw(), toast(msg, kind), fail(e)} */
export function createReview(ctx) {
  const { S } = ctx;
  S.ws = null; S.filter = "review";

  function header() {
    const ws = S.ws;
    if (!ws) {
      $("ws-note").textContent = "Ephemeral session: nothing is kept. Images and masks are forgotten when the server stops "
        + "(export them, or start dermaseg serve --workspace DIR).";
      $("ws-head").dataset.mode = "ephemeral";
      return;
    }
    const c = ws.counts || {};
    $("ws-head").dataset.mode = "workspace";
    $("ws-note").textContent = `Workspace ${ws.name}: ${c.approved || 0} approved · ${(c.auto || 0) + (c.edited || 0)} to review`
      + `${c.skipped ? ` · ${c.skipped} skipped` : ""} of ${ws.images}`;
    for (const b of document.querySelectorAll("[data-filter]")) b.setAttribute("aria-pressed", String(b.dataset.filter === S.filter));
  }

  async function refresh() {
    if (!S.ws) return;
    const [info, rows] = await Promise.all([api.workspace(), fetchRows(S.filter)]);
    S.ws = info;
    const byId = new Map(S.images.map((r) => [r.id, r]));
    const current = ctx.cur();
    const recs = rows.map((row) => {
      const rec = byId.get(row.id) || ctx.newRec(row);
      rec.ws = { ...rec.ws, ...row };  // (not its version: a loaded image keeps the one its mask is based on)
      return rec;
    });
    if (current && !recs.includes(current)) recs.push(current);  // the open image stays, outside the filter
    S.images = recs;
    S.current = current ? recs.indexOf(current) : -1;
    header(); ctx.renderList(); ctx.updatePanels();
  }

  async function open(rec) {
    if (rec.status === "remote" || rec.status === "error") {
      rec.status = "loading"; ctx.renderList();
      try { await loadImage(rec); } catch (e) { rec.status = "error"; rec.error = e.message; ctx.fail(e); }
    }
    return rec;
  }

  async function next() {
    if (!S.ws) return;
    const cur = ctx.cur();
    try {
      const row = await nextToReview(cur && cur.id);
      if (!row) { ctx.toast("Nothing left to review in this workspace.", "info"); return; }
      let i = S.images.findIndex((r) => r.id === row.id);
      if (i < 0) { S.images.push(ctx.newRec(row)); i = S.images.length - 1; }
      ctx.select(i);
    } catch (e) { ctx.fail(e); }
  }

  async function decide(status) {
    const rec = ctx.cur();
    if (!S.ws || !rec || rec.status !== "ready") return;
    const note = $("review-note").value;
    const r = await queueWrite(rec, (v) => api.setStatus(rec.id, status, note, v), { onError: ctx.fail, onConflict: conflict });
    if (!r) return;
    rec.ws = { ...rec.ws, ...r };
    ctx.toast(`${rec.name}: ${STATUS_LABEL[r.status] || r.status}`, "info");
    await refresh();
    if (status !== "edited") await next();
  }

  async function saveNote() {
    const rec = ctx.cur();
    if (!S.ws || !rec || rec.status !== "ready" || ($("review-note").value || "") === (rec.ws.note || "")) return;
    const status = rec.ws.status === "auto" ? "edited" : rec.ws.status;
    const r = await queueWrite(rec, (v) => api.setStatus(rec.id, status, $("review-note").value, v),
      { onError: ctx.fail, onConflict: conflict });
    if (r) { rec.ws = { ...rec.ws, ...r }; panel(rec); refresh().catch(ctx.fail); }
  }

  function conflict(rec, err) {
    const who = err.body && err.body.current_version !== undefined ? ` (now version ${err.body.current_version})` : "";
    ctx.toast(`${rec.name} was changed by ${rec.ws.reviewer || "another reviewer"}${who}: showing the newer mask; `
      + "your change was not saved (Undo brings it back).", "error");
    ctx.draw(); ctx.updatePanels(); refresh().catch(ctx.fail);
  }

  function panel(rec) {
    $("review").hidden = !S.ws;
    if (!S.ws) return;
    const ready = rec && rec.status === "ready" && rec.ws;
    const st = $("review-state");
    st.dataset.status = ready ? rec.ws.status : "";
    st.textContent = !ready ? "—" : `${STATUS_LABEL[rec.ws.status] || rec.ws.status}`
      + `${rec.ws.reviewer ? ` · by ${rec.ws.reviewer}` : ""} · version ${rec.version}`;
    if (document.activeElement !== $("review-note")) $("review-note").value = ready ? rec.ws.note || "" : "";
    $("save-state").textContent = pending() ? "saving…" : ready ? "all changes saved" : "";
  }

  async function init() {
    let info;
    try { info = await api.workspace(); } catch (e) { info = { workspace: false }; }
    S.ws = info && info.workspace ? info : null;
    $("ws-filters").hidden = !S.ws; $("next-review").hidden = !S.ws;
    document.body.classList.toggle("workspace", !!S.ws);
    header(); panel(null);
    if (!S.ws) return;
    $("drop-hint").textContent = "or drop images here: they are added to the workspace";
    for (const b of document.querySelectorAll("[data-filter]")) {
      b.onclick = () => { S.filter = b.dataset.filter; refresh().catch(ctx.fail); };
    }
    $("next-review").onclick = next;
    $("approve").onclick = () => decide("approved");
    $("skip").onclick = () => decide("skipped");
    $("review-note").addEventListener("change", () => saveNote().catch(ctx.fail));
    await refresh();
    if (S.current < 0) await next();
  }

  return { init, refresh, open, next, decide, panel, conflict };
}
