/* The aiedge dashboard: a hash-routed page over the hub's /api/v1 (fleet, site, apps, app, alerts).
   Everything is built with DOM calls (text is never parsed as HTML); data refreshes every 5 s. */
"use strict";

const REFRESH_MS = 5000;
const PAGE_SIZE = 50;
const RANGES = ["15m", "1h", "6h", "24h", "7d"];
const state = { route: null, sites: [], summary: {}, alerts: { firing: [], resolved: [] }, health: null,
  q: "", filter: "all", page: 0, range: "1h", timer: null, view: null, error: null };

// ---- tiny DOM helpers --------------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k != null && k !== false) e.append(k instanceof Node ? k : String(k));
  return e;
}
// X-Requested-By on every call: the hub refuses a cookie-authenticated change without it (CSRF)
async function api(path, opts = {}) {
  const headers = { Accept: "application/json", "X-Requested-By": "aiedge-dashboard", ...(opts.headers || {}) };
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) {  // no operator token, or a revoked one: log in, then come back here
    location.assign(`/login?next=${encodeURIComponent(location.hash)}`);
    throw new Error("log in first");
  }
  if (!r.ok) {
    let why = `HTTP ${r.status}`;
    try { const b = await r.json(); if (b && b.error) why = b.error; } catch (_) { /* not JSON */ }
    throw new Error(why);
  }
  return r.json();
}
// The route and its query (#/site/x?range=6h): the page's state lives in the URL, so a link,
// a reload or a new tab shows the same thing
function where() {
  const [path, query] = location.hash.replace(/^#\/?/, "").split("?");
  return { parts: path.split("/").filter((p) => p !== "").map(decodeURIComponent), params: new URLSearchParams(query || "") };
}
function keepInUrl(values) {
  const { parts, params } = where();
  for (const [k, v] of Object.entries(values)) { if (v == null || v === "" || v === 0) params.delete(k); else params.set(k, v); }
  const qs = params.toString();
  history.replaceState(null, "", `#/${parts.map(enc).join("/")}${qs ? "?" + qs : ""}`);
}
const enc = encodeURIComponent;

// ---- formatting --------------------------------------------------------------------------------
function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : "-"; }
function shortDigest(d) { return d ? d.replace(/^sha256:/, "").slice(0, 12) : "-"; }
// A digest as people read it: 12 hex digits, the whole one on hover and a button that copies it
function digestEl(d, cls) {
  if (!d) return h("code", { class: cls || "" }, "-");
  const copy = h("button", { class: "copy", type: "button", title: `copy ${d}`, "aria-label": `copy digest ${d}`,
    onclick: (e) => { e.stopPropagation(); copyText(d).then(() => { copy.textContent = "copied"; setTimeout(() => { copy.textContent = "copy"; }, 1500); }); } }, "copy");
  return h("span", { class: "digest" }, h("code", { class: cls || "", title: d, "data-digest": d }, shortDigest(d)), copy);
}
async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = h("textarea", { style: "position:fixed;opacity:0" }); area.value = text;
  document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
}
function shortRev(r) { if (!r) return "-"; const i = r.lastIndexOf(":"); return i > 0 ? r.slice(0, i + 1) + r.slice(i + 1, i + 13) : r; }
function num(v, digits = 1) {
  if (v == null) return "–";
  if (v >= 1000) return (v / 1000).toFixed(1) + "k";
  return (+v.toFixed(digits)).toString();
}
function ms(v) { return v == null ? "–" : v < 1 ? v.toFixed(2) + " ms" : v < 100 ? v.toFixed(1) + " ms" : Math.round(v) + " ms"; }
function pct(v) { return v == null ? "–" : v === 0 ? "0%" : v < 0.001 ? "<0.1%" : (v * 100).toFixed(1) + "%"; }
function bytes(n) {
  if (n == null) return "?";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${i ? n.toFixed(1) : n} ${u[i]}`;
}
function duration(s) {
  if (s == null) return "?";
  s = Math.floor(s);
  return s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
// A download under way (AppStatus.progress): bytes, share, rate and time left, and a bar.
function progressLine(a) {
  const p = a.progress;
  if (!p) return null;
  const share = p.total_bytes ? Math.min(1, p.done_bytes / p.total_bytes) : null;
  const words = [`${bytes(p.done_bytes)} / ${bytes(p.total_bytes)}`];
  if (share != null) words[0] += ` (${Math.floor(share * 100)}%)`;
  if (p.rate_bps != null) words.push(`${bytes(p.rate_bps)}/s`);
  if (p.eta_seconds != null) words.push(`ETA ${duration(p.eta_seconds)}`);
  return h("div", { class: "progress", "data-progress": a.name },
    h("div", { class: "pbar" }, h("span", { style: `width:${share == null ? 0 : share * 100}%` })),
    h("span", { class: "faint" }, "downloading ", words.join(" · ")));
}

// The GitOps repo's HEAD is not what the hub serves: why, where (file:line:col), what is served.
function drawBanner(health) {
  const el = document.getElementById("banner");
  const b = health && health.banner;
  el.textContent = "";
  el.classList.toggle("hidden", !b);
  if (!b) return;
  const what = { held: "is held: it would remove apps from sites", invalid: "is invalid", unreadable: "cannot be read" }[b.kind] || b.kind;
  el.append(
    h("div", { class: "title" }, "GitOps revision ", h("code", {}, shortRev(b.revision)), ` ${what}; still serving `,
      h("code", {}, shortRev(b.serving))),
    h("ul", {}, (b.problems.length ? b.problems : [{ message: b.message }]).slice(0, 5).map((p) =>
      h("li", {}, p.file ? h("code", {}, `${p.file}:${p.line}:${p.col}`) : null, p.file ? " " : null,
        p.file ? p.message.replace(`${p.file}:${p.line}:${p.col}: `, "") : p.message))));
}

function statusPill(status, lastSeen) {
  const p = h("span", { class: `pill s-${status}` }, status);
  if (status === "unknown") return h("span", {}, p, h("span", { class: "since" }, `unknown since ${when(lastSeen)}`));
  return p;
}
function healthDot(health) { return h("span", { class: `hdot h-${health || "none"}`, title: health || "not reported" }); }

// ---- data --------------------------------------------------------------------------------------
async function refreshCommon() {
  const [sites, summary, alerts, health, rollouts] = await Promise.all([
    api("/api/v1/sites").catch((e) => { state.error = e.message; return state.sites; }),
    api("/api/v1/metrics/summary").catch(() => ({ sites: {} })),
    api("/api/v1/alerts").catch(() => state.alerts),
    api("/api/v1/health").catch(() => null),
    api("/api/v1/rollouts").catch(() => state.rollouts || []),
  ]);
  state.sites = sites; state.summary = summary.sites || {}; state.alerts = alerts; state.health = health;
  state.rollouts = rollouts;
  drawBanner(health);
  const hs = document.getElementById("hub-state");
  hs.textContent = "";
  if (health) {
    hs.append(h("span", { class: `dot ${health.status === "ok" ? "ok" : "bad"}` }),
      h("span", {}, `hub ${health.status} · `, h("code", {}, shortRev(health.revision))));
  } else hs.append(h("span", { class: "dot bad" }), h("span", {}, "hub unreachable"));
  const n = alerts.firing.length;
  const badge = document.getElementById("alert-count");
  badge.textContent = n; badge.classList.toggle("hidden", n === 0);
  document.getElementById("updated").textContent = `updated ${new Date().toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000}s`;
}

function siteTotals(name) {
  const apps = state.summary[name] || {};
  let rps = 0, req = 0, err = 0, rej = 0, p99 = null;
  for (const a of Object.values(apps)) {
    rps += a.rps; req += a.requests; err += a.error_rate * a.requests; rej += (a.rejected_rate || 0) * a.requests;
    if (a.p99_ms != null) p99 = Math.max(p99 || 0, a.p99_ms);
  }
  return { rps, error_rate: req ? err / req : null, rejected_rate: req ? rej / req : null, p99, any: Object.keys(apps).length > 0 };
}

// The newest rollout of each placement's app, unless superseded or complete for over an hour.
function currentRollouts() {
  const seen = new Set(), out = [];
  for (const r of state.rollouts || []) {  // newest first
    const key = `${r.placement}/${r.app}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (r.phase === "superseded") continue;
    if (r.phase === "complete" && Date.now() - new Date(r.updated_at).getTime() > 3600e3) continue;
    out.push(r);
  }
  return out;
}

function rolloutRow(r) {
  const c = r.counts, skipped = c.skipped || 0, total = c.done + c.failed + c.updating + c.pending + skipped;
  const bar = h("div", { class: "rbar", title: `${c.done} done, ${c.failed} failed, ${c.updating} updating, ${c.pending} pending` },
    ["done", "failed", "updating"].map((k) => h("span", { class: `seg ${k}`, style: `width:${total ? (100 * c[k]) / total : 0}%` })));
  let phase = r.phase;
  if (r.phase === "soaking" && r.soak_until) {
    const left = Math.max(0, Math.round((new Date(r.soak_until).getTime() - Date.now()) / 1000));
    phase = `soaking · ${left}s left`;
  } else if (r.phase === "stopped") phase = `stopped · ${r.failures} failed (max ${r.failure_budget ?? r.maxFailures})`;
  else if (r.phase === "paused") phase = `paused ${r.paused_by === "git" ? "in Git" : "by an operator"}`;
  const failed = Object.entries(r.sites || {}).filter(([, p]) => p.state === "failed");
  return h("tr", { "data-rollout": `${r.placement}/${r.app}` },
    h("td", {}, h("a", { href: `#/app/${enc(r.app)}` }, r.app), h("div", { class: "faint" }, r.placement)),
    h("td", {}, digestEl(r.to_digest), h("div", { class: "faint" }, "from ", shortDigest(r.from_digest))),
    h("td", { class: "wave" }, `${r.wave}/${r.total_waves}`),
    h("td", {}, bar, h("div", { class: "faint" }, `${c.done} done · ${c.failed} failed · ${c.updating} updating · ${c.pending} pending` + (skipped ? ` · ${skipped} skipped` : ""))),
    h("td", {}, h("span", { class: `pill r-${r.phase}` }, phase),
      failed.slice(0, 3).map(([n, p]) => h("div", { class: "err failing", "data-failing": n },
        h("a", { href: `#/site/${enc(n)}` }, n), ": ", (p.message || "failed").slice(0, 200)))),
    h("td", { class: "actions" }, rolloutActions(r)));
}
// What an operator may do to a rollout as it stands (the hub refuses the rest with a reason);
// the same POST /api/v1/rollouts/APP/ACTION as `aiedge rollout ACTION APP`
function rolloutActions(r) {
  const can = [];
  if (r.state === "progressing" && r.paused_by !== "operator") can.push("pause");
  if (r.state === "progressing" && r.paused_by === "operator") can.push("resume");
  if (r.state === "failed" || r.state === "aborted" || r.failures > 0) can.push("retry");
  if (r.state === "progressing" || r.state === "failed") can.push("abort");
  return can.map((action) => h("button", { class: `btn act ${action === "abort" ? "danger" : ""}`, type: "button",
    "data-action": action, onclick: () => act(r, action) }, action));
}
async function act(r, action) {
  if (action === "abort" && !confirm(`Abort the rollout of ${r.app} (${r.placement})? Every site goes back to what it ran before.`)) return;
  const out = document.getElementById("rollout-msg");
  try {
    const body = await api(`/api/v1/rollouts/${enc(r.app)}/${action}?placement=${enc(r.placement)}`, { method: "POST" });
    out.className = "rollout-msg ok"; out.textContent = body.done.join("; ");
  } catch (e) {
    out.className = "rollout-msg err"; out.textContent = `${action} ${r.app}: ${e.message}`;
  }
  tick();
}

// ---- fleet -------------------------------------------------------------------------------------
const fleetView = {
  mount(root) {
    this.kpis = h("div", { class: "kpis" });
    this.input = h("input", { type: "search", placeholder: "Search sites, labels, apps…", value: state.q,
      "aria-label": "search sites", oninput: (e) => { state.q = e.target.value; state.page = 0; keepInUrl({ q: state.q, page: 0 }); this.update(); } });
    const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    icon.setAttribute("viewBox", "0 0 24 24"); icon.setAttribute("width", "16"); icon.setAttribute("height", "16");
    icon.innerHTML = '<circle cx="11" cy="11" r="7" fill="none" stroke="currentColor" stroke-width="2"/><path d="M20 20l-4-4" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>';
    this.chips = h("div", { class: "chips" });
    this.pager = h("div", { class: "pager" });
    this.body = h("tbody");
    this.rollouts = h("div", { class: "card flush hidden", id: "rollouts" });
    this.rolloutMsg = h("span", { id: "rollout-msg", class: "rollout-msg", role: "status" });
    root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Fleet"), h("span", { class: "sub" }, "every site, what it runs, and how it is doing")),
      this.kpis,
      this.rollouts,
      h("div", { class: "card flush" },
        h("div", { class: "toolbar" }, h("div", { class: "search" }, icon, this.input), this.chips, this.pager),
        h("div", { class: "scroll" }, h("table", { id: "sites" },
          h("thead", {}, h("tr", {}, h("th", {}, "Site"), h("th", {}, "Status"), h("th", {}, "Last seen"),
            h("th", {}, "Revision"), h("th", {}, "Apps"), h("th", { class: "num", title: "requests per second, 5 min average" }, "Req/s (5 min)"),
            h("th", { class: "num" }, "p99"), h("th", { class: "num", title: "server errors (5xx)" }, "Errors"),
            h("th", { class: "num", title: "requests rejected as the client's mistake (4xx)" }, "Rejected"))),
          this.body))));
  },
  update() {
    const sites = state.sites;
    const count = (st) => sites.filter((s) => s.status === st).length;
    let rps = 0; for (const s of sites) rps += siteTotals(s.name).rps;
    this.kpis.textContent = "";
    const kpi = (label, value, cls, small) => h("div", { class: `kpi ${cls || ""}` }, h("div", { class: "k" }, label),
      h("div", { class: "value" }, value, small ? h("small", {}, small) : null));
    this.kpis.append(
      kpi("Sites", sites.length), kpi("Healthy", count("healthy"), "green"),
      kpi("Degraded", count("degraded"), count("degraded") ? "red" : ""),
      kpi("Unknown", count("unknown") + count("never-seen"), count("unknown") ? "magenta" : ""),
      kpi("Firing alerts", state.alerts.firing.length, state.alerts.firing.length ? "red" : "green"),
      kpi("Fleet traffic", num(rps, 2), "", "req/s, 5 min average"));
    const rollouts = currentRollouts();
    this.rollouts.textContent = "";
    this.rollouts.classList.toggle("hidden", rollouts.length === 0);
    if (rollouts.length) {
      this.rollouts.append(h("div", { class: "toolbar" }, h("h3", {}, "Rollouts"), this.rolloutMsg),
        h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "App"), h("th", {}, "Target digest"), h("th", {}, "Wave"),
          h("th", {}, "Sites"), h("th", {}, "State"), h("th", {}, "Act"))), h("tbody", {}, rollouts.map(rolloutRow)))));
    }
    const statuses = ["all", "healthy", "progressing", "degraded", "unknown", "never-seen"];
    this.chips.textContent = "";
    for (const st of statuses) {
      const n = st === "all" ? sites.length : count(st);
      if (st !== "all" && n === 0 && state.filter !== st) continue;
      this.chips.append(h("button", { class: `chip ${state.filter === st ? "on" : ""}`,
        onclick: () => { state.filter = st; state.page = 0; keepInUrl({ status: st === "all" ? null : st, page: 0 }); this.update(); } }, st, h("span", { class: "n" }, n)));
    }
    const q = state.q.trim().toLowerCase();
    const match = (s) => !q || s.name.toLowerCase().includes(q) ||
      Object.entries(s.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q)) ||
      s.apps.some((a) => a.name.toLowerCase().includes(q));
    const rows = sites.filter((s) => (state.filter === "all" || s.status === state.filter) && match(s));
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    this.pager.textContent = "";
    this.pager.append(
      h("span", {}, rows.length ? `${state.page * PAGE_SIZE + 1}–${state.page * PAGE_SIZE + shown.length} of ${rows.length}` : "0 sites"),
      h("button", { class: "btn", "aria-label": "previous page", disabled: state.page === 0, onclick: () => { state.page--; keepInUrl({ page: state.page }); this.update(); } }, "‹"),
      h("button", { class: "btn", "aria-label": "next page", disabled: state.page >= pages - 1, onclick: () => { state.page++; keepInUrl({ page: state.page }); this.update(); } }, "›"));
    const frag = document.createDocumentFragment();
    for (const s of shown) {
      const t = siteTotals(s.name);
      frag.append(h("tr", { class: "link", "data-site": s.name, onclick: rowLink(`#/site/${enc(s.name)}`) },
        h("td", {}, h("a", { class: "site-name", href: `#/site/${enc(s.name)}` }, s.name),
          h("div", { class: "labels" }, Object.entries(s.labels || {}).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`)))),
        h("td", {}, statusPill(s.status, s.last_seen)),
        h("td", { class: "muted", title: when(s.last_seen) }, ago(s.last_seen)),
        h("td", {}, h("code", { class: "muted" }, shortRev(s.observed_revision || s.desired_revision))),
        h("td", {}, s.apps.length ? s.apps.map((a) => h("div", { class: "app-line" }, healthDot(a.health),
          h("a", { href: `#/app/${enc(a.name)}` }, a.name),
          digestEl(a.digest, "faint"), progressLine(a))) : h("span", { class: "faint" }, "nothing yet"),
          s.last_error ? h("div", { class: "err" }, s.last_error) : null),
        h("td", { class: "num" }, t.any ? num(t.rps, 2) : "–"),
        h("td", { class: "num" }, ms(t.p99)),
        h("td", { class: "num" }, t.any ? pct(t.error_rate) : "–"),
        h("td", { class: "num" }, t.any ? pct(t.rejected_rate) : "–")));
    }
    this.body.textContent = "";
    if (!shown.length) this.body.append(h("tr", {}, h("td", { colspan: 9, class: "empty" }, sites.length ? "no site matches" : "no sites defined in the GitOps repo yet")));
    this.body.append(frag);
  },
};

// ---- charts shared by site and app pages --------------------------------------------------------
function rangeSwitch(onChange) {
  return h("div", { class: "ranges" }, RANGES.map((r) => h("button", { class: state.range === r ? "on" : "",
    "aria-pressed": state.range === r ? "true" : "false",
    onclick: (e) => { state.range = r; keepInUrl({ range: r === "1h" ? null : r }); for (const b of e.target.parentNode.children) { b.classList.toggle("on", b === e.target); b.setAttribute("aria-pressed", b === e.target ? "true" : "false"); } onChange(); } }, r)));
}
function rangeMs(r) { const n = parseInt(r, 10); return n * ({ m: 60e3, h: 3600e3, d: 86400e3 })[r.slice(-1)]; }

function chartCard(title, series, fmt, nowValue, nowUnit, markers) {
  const box = h("div", {});
  const card = h("div", { class: "chart-card" },
    h("div", { class: "chart-head" }, h("h3", {}, title), h("span", { class: "now" }, nowValue, nowUnit ? h("small", {}, nowUnit) : null)), box);
  const to = Date.now(), from = to - rangeMs(state.range);
  requestAnimationFrame(() => Chart.draw(box, { series, from, to, format: fmt, markers }));
  return card;
}
function last(points, key) { for (let i = points.length - 1; i >= 0; i--) if (points[i][key] != null) return points[i][key]; return null; }
function merge(groups) {
  // several apps (or sites) summed per minute: requests add up, latencies take the worst
  const byT = new Map();
  for (const g of groups) for (const p of g.points) {
    const m = byT.get(p.t) || { t: p.t, requests: 0, errors: 0, rejected: 0, p50_ms: null, p99_ms: null };
    m.requests += p.requests; m.errors += p.errors; m.rejected += p.rejected || 0;
    if (p.p50_ms != null) m.p50_ms = Math.max(m.p50_ms || 0, p.p50_ms);
    if (p.p99_ms != null) m.p99_ms = Math.max(m.p99_ms || 0, p.p99_ms);
    byT.set(p.t, m);
  }
  return [...byT.values()].sort((a, b) => a.t - b.t).map((m) => ({ ...m, rps: m.requests / 60,
    error_rate: m.requests ? m.errors / m.requests : 0, rejected_rate: m.requests ? m.rejected / m.requests : 0 }));
}
// Where a rollout of the new version started: a marker on every chart of the page
function deployMarkers(rollouts) {
  return rollouts.map((r) => ({ t: Date.parse(r.started_at), label: shortDigest(r.to_digest).slice(0, 7),
    title: `rollout of ${r.app} to ${r.to_digest} started ${when(r.started_at)}` }));
}
function trafficCharts(groups, nameOf, markers) {
  const all = merge(groups);
  const per = (key, scale = 1) => groups.map((g) => ({ name: nameOf(g), points: g.points.map((p) => [p.t, p[key] == null ? null : p[key] * scale]) }));
  return h("div", { class: "grid2", id: "charts" },
    chartCard("Request rate", per("rps"), (v) => num(v, 2), num(last(all, "rps"), 2), "req/s, last minute's average", markers),
    chartCard("Latency p50 / p99", [
      { name: "p99", color: "#f472b6", points: all.map((p) => [p.t, p.p99_ms]) },
      { name: "p50", color: "#60a5fa", points: all.map((p) => [p.t, p.p50_ms]) }], (v) => ms(v), ms(last(all, "p99_ms")), "p99, last minute", markers),
    chartCard("Server errors (5xx)", per("error_rate", 100), (v) => (+v.toFixed(2)) + "%", pct(last(all, "error_rate")), "last minute", markers),
    chartCard("Rejected requests (4xx)", per("rejected_rate", 100), (v) => (+v.toFixed(2)) + "%", pct(last(all, "rejected_rate")), "last minute", markers),
    chartCard("Requests per minute", per("requests"), (v) => num(v, 0), num(last(all, "requests"), 0), "last minute", markers));
}

// ---- site --------------------------------------------------------------------------------------
const siteView = {
  mount(root, name) { this.root = root; this.name = name; },
  async update() {
    const name = this.name;
    const [site, metrics] = await Promise.all([api(`/api/v1/sites/${enc(name)}`), api(`/api/v1/sites/${enc(name)}/metrics?range=${state.range}`)]);
    const alerts = state.alerts.firing.filter((a) => a.labels.site === name);
    this.root.textContent = "";
    this.root.append(
      h("div", { class: "crumbs" }, h("a", { href: "#/" }, "Fleet"), " / site"),
      h("div", { class: "page-head" }, h("h1", {}, site.name), statusPill(site.status, site.last_seen),
        h("span", { class: "labels" }, Object.entries(site.labels || {}).map(([k, v]) => h("span", { class: "label" }, `${k}=${v}`))),
        rangeSwitch(() => this.update())),
      h("div", { class: "card" }, h("div", { class: "facts" },
        fact("Last seen", h("span", { title: when(site.last_seen) }, ago(site.last_seen))),
        fact("Observed revision", h("code", {}, shortRev(site.observed_revision))),
        fact("Desired revision", h("code", {}, shortRev(site.desired_revision))),
        fact("Firing alerts", alerts.length ? h("a", { href: "#/alerts" }, String(alerts.length)) : "none"),
        site.last_error ? fact("Last error", h("span", { class: "err" }, site.last_error)) : null,
        site.link ? fact("Link today", linkText(site.link)) : null)),
      site.link && site.link.deferred.length ? h("div", { class: "card" }, site.link.deferred.map((d) => h("div", { class: "err" }, d))) : null,
      siteFacts(site.facts),
      trafficCharts(metrics.apps, (g) => g.app, deployMarkers((state.rollouts || []).filter((r) => r.sites && r.sites[name]))),
      h("h2", { style: "margin-top:22px" }, "Apps"),
      h("div", { class: "card flush" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "App"), h("th", {}, "Health"), h("th", {}, "Digest"), h("th", {}, "Serving at"), h("th", {}, "Condition"))),
        h("tbody", {}, site.apps.length ? site.apps.map((a) => h("tr", {},
          h("td", {}, h("a", { href: `#/app/${enc(a.name)}` }, a.name)),
          h("td", {}, h("span", { class: `pill s-${a.health}` }, a.health)),
          h("td", {}, digestEl(a.digest)),
          h("td", {}, a.url ? h("code", {}, a.url) : "–"),
          h("td", { class: a.reason === "Ready" || a.health === "healthy" ? "muted" : "err" }, a.message || "–", progressLine(a))))
          : h("tr", {}, h("td", { colspan: 5, class: "empty" }, "no apps reported"))))));
  },
};
// The site's own account of its link (LinkUsage): today's bytes against its budget, by day on hover.
function dayTotal(d) { return Object.values(d.kinds).reduce((n, k) => n + k.sent + k.received, 0); }
function linkText(link) {
  const today = link.days.length ? link.days[link.days.length - 1] : null;
  const used = today ? dayTotal(today) : 0;
  const budget = link.budget ? ` of ${bytes(link.budget)}${link.metered ? "" : " (counted)"}` : "";
  const title = link.days.map((d) => `${d.day}: ${bytes(dayTotal(d))}`).join("\n");
  return h("span", { title, class: link.spent ? "err" : "" }, `${bytes(used)}${budget}${link.spent ? ", spent" : ""}`);
}
function fact(k, v) { return h("div", { class: "fact" }, h("div", { class: "k" }, k), h("div", { class: "v" }, v)); }
function siteFacts(f) {
  if (!f) return h("div", { class: "card muted", id: "site-facts" }, "No facts reported yet (agents report them since aiedge's facts)");
  const list = (xs) => (xs && xs.length ? xs.join(", ") : "none");
  return h("div", { class: "card", id: "site-facts" }, h("div", { class: "facts" },
    fact("Platform", h("code", {}, `${f.os}/${f.arch}`)),
    fact("CPUs", String(f.cpus)),
    fact("Memory", bytes(f.memory_bytes)),
    fact("Free disk", bytes(f.disk_free_bytes)),
    fact("Accelerators", list(f.accelerators)),
    fact("OpenVINO devices", list(f.openvino_devices)),
    fact("ONNX Runtime providers", list(f.onnx_providers)),
    f.dri && f.dri.length ? fact("/dev/dri", list(f.dri)) : null,
    f.nvidia && f.nvidia.length ? fact("NVIDIA", list(f.nvidia)) : null,
    fact("aiedge", f.aiedge_version || "?")));
}

// ---- apps --------------------------------------------------------------------------------------
const appsView = {
  mount(root) { this.root = root; },
  async update() {
    const apps = await api("/api/v1/apps");
    this.root.textContent = "";
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Apps"), h("span", { class: "sub" }, "models and where they run")),
      h("div", { class: "card flush" }, h("table", { id: "apps" },
        h("thead", {}, h("tr", {}, h("th", {}, "App"), h("th", {}, "Model"), h("th", {}, "Image digest"), h("th", {}, "Healthy"),
          h("th", { class: "num", title: "requests per second, 5 min average" }, "Req/s (5 min)"), h("th", { class: "num" }, "p99"), h("th", { class: "num" }, "Errors (5xx)"),
          h("th", { class: "num" }, "Rejected (4xx)"))),
        h("tbody", {}, apps.length ? apps.map((a) => h("tr", { class: "link", "data-app": a.name, onclick: rowLink(`#/app/${enc(a.name)}`) },
          h("td", {}, h("a", { class: "site-name", href: `#/app/${enc(a.name)}` }, a.name)), h("td", {}, a.model || "–"),
          h("td", {}, a.image ? digestEl(a.image.split("@")[1]) : h("code", {}, "awaiting build")),
          h("td", {}, h("span", { class: `pill s-${a.healthy === a.placed && a.placed ? "healthy" : a.placed ? "progressing" : "none"}` }, `${a.healthy} / ${a.placed} sites`)),
          h("td", { class: "num" }, num(a.recent.rps, 2)), h("td", { class: "num" }, ms(a.recent.p99_ms)),
          h("td", { class: "num" }, pct(a.recent.error_rate)), h("td", { class: "num" }, pct(a.recent.rejected_rate))))
          : h("tr", {}, h("td", { colspan: 8, class: "empty" }, "no apps in the GitOps repo"))))));
  },
};
const appView = {
  mount(root, name) { this.root = root; this.name = name; },
  async update() {
    const [a, revisions] = await Promise.all([api(`/api/v1/apps/${enc(this.name)}?range=${state.range}`),
      api(`/api/v1/apps/${enc(this.name)}/revisions`).catch(() => [])]);
    this.root.textContent = "";
    this.root.append(
      h("div", { class: "crumbs" }, h("a", { href: "#/apps" }, "Apps"), " / app"),
      h("div", { class: "page-head" }, h("h1", {}, a.name), h("span", { class: "sub" }, a.model ? `model ${a.model}` : ""), rangeSwitch(() => this.update())),
      h("div", { class: "card" }, h("div", { class: "facts" },
        fact("Image", a.image ? h("span", {}, h("code", {}, a.image.split("@")[0]), " ", digestEl(a.image.split("@")[1])) : h("code", {}, "awaiting build")),
        fact("Placed on", `${a.sites.length} site${a.sites.length === 1 ? "" : "s"}`),
        fact("Healthy", String(a.sites.filter((s) => s.health === "healthy").length)))),
      trafficCharts(a.series, (g) => g.site, deployMarkers(revisions.map((r) => ({ ...r, app: a.name })))),
      h("h2", { style: "margin-top:22px" }, "Revision history"),
      h("div", { class: "card flush scroll" }, h("table", { id: "revisions" },
        h("thead", {}, h("tr", {}, h("th", {}, "Commit"), h("th", {}, "Author"), h("th", {}, "Message"), h("th", {}, "Digest"),
          h("th", {}, "Rollout"), h("th", {}, "Sites switched"))),
        h("tbody", {}, revisions.length ? revisions.map(revisionRow)
          : h("tr", {}, h("td", { colspan: 6, class: "empty" }, "no rollout of this app yet: its first version went out with its site"))))),
      h("h2", { style: "margin-top:22px" }, "Where it runs"),
      h("div", { class: "card flush" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Site"), h("th", {}, "Site status"), h("th", {}, "Health"), h("th", {}, "Serving digest"), h("th", {}, "Condition"))),
        h("tbody", {}, a.sites.map((s) => h("tr", { class: "link", onclick: rowLink(`#/site/${enc(s.site)}`) },
          h("td", {}, h("a", { class: "site-name", href: `#/site/${enc(s.site)}` }, s.site)), h("td", {}, h("span", { class: `pill s-${s.site_status}` }, s.site_status)),
          h("td", {}, h("span", { class: `pill s-${s.health || "none"}` }, s.health || "not reported")),
          h("td", {}, digestEl(s.digest), s.digest && s.digest !== s.desired_digest ? h("span", { class: "since" }, `wants ${shortDigest(s.desired_digest)}`) : null),
          h("td", { class: (s.message || "").startsWith("Ready") ? "muted" : "err" }, s.message || "–")))))));
  },
};

// One rollout of the app: the commit that asked for it, the digest, and when each site switched
function revisionRow(r) {
  const c = r.commit;
  const sites = Object.entries(r.sites || {}).sort(([a], [b]) => a.localeCompare(b));
  return h("tr", { "data-revision": r.revision },
    h("td", {}, h("code", { title: r.revision }, c ? c.sha.slice(0, 12) : shortRev(r.revision)),
      h("div", { class: "faint", title: c ? c.committed_at : "" }, c ? when(c.committed_at) : "commit not in the repo")),
    h("td", {}, c ? c.author : "–"),
    h("td", { class: "subject" }, c ? c.subject : "–"),
    h("td", {}, digestEl(r.to_digest), h("div", { class: "faint" }, "from ", shortDigest(r.from_digest))),
    h("td", {}, h("span", { class: `pill r-${r.phase}` }, r.phase), h("div", { class: "faint" }, `started ${when(r.started_at)}`)),
    h("td", {}, sites.map(([n, p]) => h("div", { class: "switch" }, h("a", { href: `#/site/${enc(n)}` }, n), " ",
      h("span", { class: p.state === "failed" ? "err" : ["healthy", "soaking"].includes(p.state) ? "" : "faint" },
        p.state === "healthy" ? `switched ${when(p.since)}` : p.state === "soaking" ? `switched ${when(p.since)}, soaking`
          : p.state === "failed" ? `failed ${when(p.since)}` : p.state)))));
}

// ---- alerts ------------------------------------------------------------------------------------
const alertsView = {
  mount(root) { this.root = root; },
  update() {
    const { firing, resolved } = state.alerts;
    const row = (a) => h("div", { class: "alert-row" },
      h("span", { class: `pill s-${a.status === "resolved" ? "resolved" : a.severity}` }, a.status === "resolved" ? "resolved" : a.severity),
      h("div", { class: "what" }, h("div", { class: "title" }, a.summary || a.name),
        h("div", { class: "desc" }, h("code", {}, a.name), a.description ? ` · ${a.description}` : ""),
        h("div", { class: "labels" }, Object.entries(a.labels).map(([k, v]) => h(k === "site" ? "a" : "span",
          { class: "label", href: k === "site" ? `#/site/${enc(v)}` : null }, `${k}=${v}`)))),
      h("div", { class: "when" }, `since ${ago(a.starts_at)}`, a.ends_at ? h("div", {}, `resolved ${ago(a.ends_at)}`) : null));
    this.root.textContent = "";
    this.root.append(h("div", { class: "page-head" }, h("h1", {}, "Alerts"), h("span", { class: "sub" }, "raised by the hub; also sent to --alert-webhook")),
      h("h2", {}, `Firing (${firing.length})`),
      h("div", { class: "card flush", id: "firing" }, firing.length ? firing.map(row) : h("div", { class: "ok-banner" }, "✓ all quiet: nothing is firing")),
      // Node.append writes null as the text "null": nothing at all when nothing was resolved
      ...(resolved.length ? [h("h2", { style: "margin-top:22px" }, "Recently resolved"),
        h("div", { class: "card flush" }, resolved.slice(0, 30).map(row))] : []));
  },
};

// ---- router ------------------------------------------------------------------------------------
const notFoundView = {
  mount(root) { this.root = root; },
  update() {
    this.root.textContent = "";
    this.root.append(h("div", { class: "card notfound", id: "not-found" }, h("h1", {}, "Not found"),
      h("p", {}, "The dashboard has no page at ", h("code", {}, location.hash || "/"), "."),
      h("p", {}, h("a", { href: "#/" }, "Fleet"), " · ", h("a", { href: "#/apps" }, "Apps"), " · ", h("a", { href: "#/alerts" }, "Alerts"))));
  },
};
// A whole row opens its page, but a link or button inside it keeps its own meaning (Ctrl-click,
// middle click and "open in new tab" work on the links)
function rowLink(href) {
  return (e) => { if (!e.target.closest("a, button") && !window.getSelection().toString()) location.hash = href; };
}
function route() {
  const { parts, params } = where();
  const root = document.getElementById("view");
  root.textContent = "";
  state.q = params.get("q") || "";
  state.filter = params.get("status") || "all";
  state.page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);
  state.range = RANGES.includes(params.get("range")) ? params.get("range") : "1h";
  let view = notFoundView, arg = null, nav = null;
  const [page, name] = parts;
  if (parts.length === 0) { view = fleetView; nav = "fleet"; }
  else if (page === "site" && name && parts.length === 2) { view = siteView; arg = name; nav = "fleet"; }
  else if (page === "app" && name && parts.length === 2) { view = appView; arg = name; nav = "apps"; }
  else if (page === "apps" && parts.length === 1) { view = appsView; nav = "apps"; }
  else if (page === "alerts" && parts.length === 1) { view = alertsView; nav = "alerts"; }
  else if (page === "drift" && parts.length === 1) { view = driftView; nav = "drift"; }
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === nav);
  state.view = view;
  view.mount(root, arg);
  tick();
}
async function tick() {
  clearTimeout(state.timer);
  const view = state.view;
  try {
    await refreshCommon();
    if (view === state.view) await view.update();
  } catch (e) {
    const root = document.getElementById("view");
    if (!root.querySelector(".err-banner")) root.prepend(h("div", { class: "card err err-banner" }, `could not load: ${e.message}`));
  }
  state.timer = setTimeout(tick, REFRESH_MS);
}
window.addEventListener("hashchange", route);
route();
