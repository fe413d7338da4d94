/* The login page: the token goes to POST /api/v1/login as JSON, which answers with an HttpOnly,
   SameSite=Strict cookie; this script never stores the token itself. Then back to the dashboard. */
"use strict";

document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("login-error");
  error.classList.add("hidden");
  const token = document.getElementById("token").value.trim();
  const r = await fetch("/api/v1/login", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify({ token }),
  });
  if (r.ok) {
    const next = new URLSearchParams(location.search).get("next") || "";
    location.assign("/" + (next.startsWith("#") ? next : ""));
    return;
  }
  let why = `HTTP ${r.status}`;
  try { why = (await r.json()).error || why; } catch (_) { /* not JSON */ }
  error.textContent = why;
  error.classList.remove("hidden");
});
