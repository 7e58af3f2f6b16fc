// The sign-in page of a `dermaseg serve --auth` server: posts the name and password to /api/login (which
// sets the HttpOnly session cookie), then opens the app. No inline script: the CSP forbids it.
const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.textContent = "";
  const body = { name: document.getElementById("login-name").value, password: document.getElementById("login-password").value };
  try {
    const res = await fetch("/api/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (res.ok) { location.href = "/"; return; }
    let msg = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); if (j && j.detail) msg = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail); } catch (_) { /* not JSON */ }
    error.textContent = msg;
  } catch (err) { error.textContent = `cannot reach the dermaseg server (${err.message})`; }
});
