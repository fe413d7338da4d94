/* A small SVG time-series chart for the aiedge dashboard: lines with a soft area, gaps where
   data is missing, nice y ticks, a hover cursor with a tooltip. No dependencies. */
"use strict";

const Chart = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const H = 200, L = 56, R = 12, T = 10, B = 24;
  const PALETTE = ["#60a5fa", "#34d399", "#f472b6", "#fbbf24", "#a78bfa", "#22d3ee", "#fb923c", "#f87171"];

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const n = raw / mag;
    return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * mag;
  }

  function timeLabel(t, span) {
    const d = new Date(t);
    const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    if (span > 36 * 3600e3) return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm;
    return hm;
  }

  /** Draw into `container`: opts = {series: [{name, points: [[t, v|null]...]}], from, to, format, step, markers: [{t, label, title}]}. */
  function draw(container, opts) {
    container.textContent = "";
    container.classList.add("chart");
    // draw at the real pixel width so text and strokes are never stretched
    const W = Math.max(280, Math.round(container.clientWidth || 600));
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" }, container);
    const series = (opts.series || []).map((s, i) => ({ ...s, color: s.color || PALETTE[i % PALETTE.length] }));
    const from = opts.from, to = opts.to, step = opts.step || 60e3;
    let max = 0;
    for (const s of series) for (const [, v] of s.points) if (v != null && v > max) max = v;
    const hasData = series.some((s) => s.points.some(([, v]) => v != null));
    if (max <= 0) max = opts.minMax || 1;
    const yStep = niceStep(max, 4);
    const yMax = Math.ceil(max / yStep) * yStep;
    const x = (t) => L + ((t - from) / Math.max(1, to - from)) * (W - L - R);
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    const fmt = opts.format || ((v) => String(+v.toFixed(2)));

    const grid = el("g", { class: "grid" }, svg);
    const axis = el("g", { class: "axis" }, svg);
    for (let v = 0; v <= yMax + 1e-9; v += yStep) {
      el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v) }, grid);
      const tx = el("text", { x: L - 8, y: y(v) + 3.5, "text-anchor": "end" }, axis);
      tx.textContent = fmt(v);
    }
    const span = to - from;
    const tStep = niceStep(span, 5);
    const steps = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];
    const ts = steps.find((s) => s >= tStep) || 86400e3;
    for (let t = Math.ceil(from / ts) * ts; t <= to; t += ts) {
      const tx = el("text", { x: x(t), y: H - 6, "text-anchor": "middle" }, axis);
      tx.textContent = timeLabel(t, span);
    }
    if (!hasData) {
      const tx = el("text", { x: (L + W - R) / 2, y: H / 2, "text-anchor": "middle", class: "nodata" }, svg);
      tx.textContent = opts.empty || "no data in this range yet";
    }
    // deploy markers: a dashed line where a rollout started, its digest beside it
    const marks = el("g", { class: "markers" }, svg);
    for (const m of opts.markers || []) {
      if (m.t < from || m.t > to) continue;
      el("line", { x1: x(m.t), x2: x(m.t), y1: T, y2: H - B, class: "marker" }, marks);
      const label = el("text", { x: x(m.t) + 4, y: T + 10, class: "marker-label" }, marks);
      label.textContent = m.label;
      const title = el("title", {}, label);
      title.textContent = m.title || m.label;
    }
    const layer = el("g", { class: "series" }, svg);
    for (const s of series) {
      // split into runs at gaps longer than two steps: missing data is shown as missing
      const runs = [];
      let run = [];
      let prevT = null;
      for (const [t, v] of s.points) {
        if (v == null || (prevT != null && t - prevT > 2.5 * step)) { if (run.length) runs.push(run); run = []; }
        if (v != null) run.push([t, v]);
        prevT = t;
      }
      if (run.length) runs.push(run);
      for (const r of runs) {
        const d = r.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
        if (r.length === 1) {
          el("circle", { cx: x(r[0][0]), cy: y(r[0][1]), r: 3.5, fill: s.color }, layer);
          continue;
        }
        const area = `${d}L${x(r[r.length - 1][0]).toFixed(1)},${y(0)}L${x(r[0][0]).toFixed(1)},${y(0)}Z`;
        el("path", { d: area, class: "area", fill: s.color }, layer);
        el("path", { d, class: "line", stroke: s.color }, layer);
      }
    }
    const cursor = el("line", { class: "cursor", y1: T, y2: H - B, x1: -10, x2: -10, visibility: "hidden" }, svg);
    const tip = document.getElementById("tooltip");
    svg.addEventListener("mousemove", (ev) => {
      const box = svg.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      if (px < L || px > W - R || !hasData) return;
      const t = from + ((px - L) / (W - L - R)) * (to - from);
      const rows = [];
      let near = null;
      for (const s of series) {
        let best = null;
        for (const p of s.points) if (p[1] != null && (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t))) best = p;
        if (best && Math.abs(best[0] - t) <= 2 * step) { rows.push([s, best[1]]); near = best[0]; }
      }
      if (!rows.length) { cursor.setAttribute("visibility", "hidden"); tip.classList.add("hidden"); return; }
      cursor.setAttribute("x1", x(near)); cursor.setAttribute("x2", x(near)); cursor.setAttribute("visibility", "visible");
      tip.textContent = "";
      const head = document.createElement("div"); head.className = "t"; head.textContent = new Date(near).toLocaleString();
      tip.appendChild(head);
      for (const [s, v] of rows) {
        const r = document.createElement("div"); r.className = "r";
        const i = document.createElement("i"); i.style.background = s.color;
        const n = document.createElement("span"); n.textContent = s.name;
        const b = document.createElement("b"); b.textContent = fmt(v);
        r.append(i, n, b); tip.appendChild(r);
      }
      tip.classList.remove("hidden");
      tip.style.left = Math.min(window.innerWidth - 220, ev.clientX + 14) + "px";
      tip.style.top = ev.clientY + 14 + "px";
    });
    svg.addEventListener("mouseleave", () => { cursor.setAttribute("visibility", "hidden"); tip.classList.add("hidden"); });
    if (series.length > 1 || opts.legend) {
      const lg = document.createElement("div"); lg.className = "legend";
      for (const s of series) {
        const it = document.createElement("span");
        const i = document.createElement("i"); i.style.background = s.color;
        it.append(i, document.createTextNode(s.name)); lg.appendChild(it);
      }
      container.appendChild(lg);
    }
  }

  return { draw, PALETTE };
})();
