/* Who is logged in, in the dashboard's header, with a way out. The token itself stays in its
   HttpOnly cookie, out of reach of any script. */
"use strict";

(async () => {
  const r = await fetch("/api/v1/whoami", { headers: { Accept: "application/json" } });
  if (!r.ok) return;  // app.js sends a 401 to the login page
  const me = await r.json();
  if (!me.auth) return;  // --insecure-no-auth: nobody to log out
  const box = document.createElement("div");
  box.className = "session";
  const who = document.createElement("span");
  who.textContent = `${me.name} · ${me.role}`;
  const out = document.createElement("button");
  out.type = "button";
  out.textContent = "Log out";
  out.addEventListener("click", async () => {
    await fetch("/api/v1/logout", { method: "POST", headers: { "X-Requested-By": "aiedge-dashboard" } });
    location.assign("/login");
  });
  box.append(who, out);
  document.querySelector("header.top").append(box);
})();
