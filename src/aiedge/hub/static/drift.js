/* The dashboard's drift page (#/drift): per site and app, each feature's drift score (PSI of the
   site's live window against the model's profile) next to the App's threshold, the features that
   moved first. Uses the helpers of app.js (h, api, enc, ago), which is loaded after this file. */
"use strict";

const driftView = {
  mount(root) { this.root = root; },
  async update() {
    const { sites } = await api("/api/v1/drift");
    const rows = [];
    for (const [site, apps] of Object.entries(sites)) {
      for (const [app, d] of Object.entries(apps)) {
        for (const f of d.features) rows.push({ site, app, version: d.version, rows: d.rows, source: d.source, at: d.at, ...f });
      }
    }
    rows.sort((a, b) => (b.drifting - a.drifting) || (b.score - a.score));
    const moved = rows.filter((r) => r.drifting);
    const bar = (r) => {
      const scale = Math.max(r.threshold || 0.2, 0.001) * 2;
      const w = Math.min(100, (r.score / scale) * 100);
      return h("div", { class: "drift-bar", title: `PSI ${r.score.toFixed(3)}` },
        h("span", { class: r.drifting ? "over" : "under", style: `width:${w.toFixed(1)}%` }));
    };
    this.root.textContent = "";
    this.root.append(
      h("div", { class: "page-head" }, h("h1", {}, "Drift"),
        h("span", { class: "sub" }, "PSI of each site's live inputs and outputs against the model's profile")),
      h("div", { class: "card" }, h("div", { class: "facts" },
        fact("Features drifting", String(moved.length)),
        fact("Where", moved.length ? [...new Set(moved.map((r) => `${r.app} at ${r.site}`))].join(", ") : "nowhere"),
        fact("Features watched", String(rows.length)))),
      h("div", { class: "card flush" }, h("table", { id: "drift" },
        h("thead", {}, h("tr", {}, h("th", {}, "Site"), h("th", {}, "App"), h("th", {}, "Feature"), h("th", {}, "Kind"),
          h("th", { class: "num" }, "PSI"), h("th", { class: "num" }, "Threshold"), h("th", {}, ""), h("th", {}, "State"), h("th", {}, "Window"))),
        h("tbody", {}, rows.length ? rows.map((r) => h("tr", { class: r.drifting ? "drifting" : "" },
          h("td", { class: "site-name" }, h("a", { href: `#/site/${enc(r.site)}` }, r.site)),
          h("td", {}, h("a", { href: `#/app/${enc(r.app)}` }, r.app)),
          h("td", {}, h("code", {}, r.feature)), h("td", { class: "muted" }, r.kind),
          h("td", { class: "num" }, r.score.toFixed(3)), h("td", { class: "num" }, r.threshold == null ? "off" : String(r.threshold)),
          h("td", {}, bar(r)),
          h("td", {}, h("span", { class: `pill s-${r.drifting ? "warning" : "healthy"}` }, r.drifting ? "drifting" : "stable")),
          h("td", { class: "muted", title: `reported ${ago(r.at)}` }, `${r.rows} rows · ${r.source || "profile"}`)))
          : h("tr", {}, h("td", { colspan: 9, class: "empty" }, "no drift scores reported yet"))))));
  },
};
