// The fine-tune button of a workspace server (its own module: POST/GET /api/workspace/finetune).
// Shown only when the server runs on a workspace; it starts the job, polls its state and says the
// gate's result, or why nothing changed. Nothing else in the page depends on it.
const get = (url) => fetch(url).then((r) => r.json());

export function describe(s) {
  if (s.state === "running") return `fine-tuning ${s.version || ""}: ${Math.round(100 * (s.fraction || 0))} %`;
  if (s.state === "failed") return `fine-tune failed: ${s.error}`;
  if (s.state === "done") return `${s.version}: ${s.gate.reason}`;
  return `model: ${s.current_model}`;
}

async function install() {
  const ws = await get("/api/workspace").catch(() => ({}));
  const bar = document.getElementById("models");
  if (!ws.workspace || !bar) return;
  const box = document.createElement("span");
  box.className = "finetune";
  const btn = document.createElement("button");
  btn.type = "button";
  btn.textContent = "Fine-tune on approved";
  btn.title = "Fine-tune the current model on the approved masks; it becomes current only if not worse";
  const out = document.createElement("span");
  box.append(" ", btn, " ", out);
  bar.after(box);
  const poll = async () => {
    const s = await get("/api/workspace/finetune").catch(() => null);
    if (!s) return;
    out.textContent = describe(s);
    btn.disabled = s.state === "running";
    if (s.state === "running") setTimeout(poll, 1000);
  };
  btn.addEventListener("click", async () => {
    try {
      const r = await fetch("/api/workspace/finetune", { method: "POST" });
      if (!r.ok) out.textContent = (await r.json()).detail; else poll();
    } catch (e) { out.textContent = String(e); }
  });
  poll();
}

if (typeof document !== "undefined") install();
