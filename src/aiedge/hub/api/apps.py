"""The apps side of the API: every app of the current revision with the sites it is placed on
(desired and serving digest, health) and its recent traffic; one app with its per-site history."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.hub.api.http import Services, error, json, route
from aiedge.hub.api.metrics import ERRORS, SUMMARY_WINDOW_MIN, request_range
from aiedge.hub.history import Totals, point
from aiedge.hub.observability import minute_of


async def _apps(hub: Services) -> dict[str, dict[str, Any]]:
    cur = hub.fleet.current
    if cur is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name in cur.repo.apps:
        out[name] = {"name": name, "sites": []}
    for s in await hub.observability.site_summaries():
        observed = {a.name: a for a in s.apps}
        for want in cur.desired(s.name)[0].apps:
            entry = out.setdefault(want.name, {"name": want.name, "sites": []})
            entry.setdefault("model", want.model)
            entry.setdefault("image", want.image)
            seen = observed.get(want.name)
            entry["sites"].append(
                {
                    "site": s.name,
                    "site_status": s.status.value,
                    "desired_digest": want.digest,
                    "digest": seen.digest if seen else None,
                    "health": seen.health.value if seen else None,
                    "message": seen.message if seen else "",
                    "url": seen.url if seen else None,
                }
            )
    return out


def routes(hub: Services) -> list[BaseRoute]:
    obs = hub.observability

    async def apps(_request: Request) -> Response:
        found = await _apps(hub)
        window = await obs.window_totals(SUMMARY_WINDOW_MIN * 60)
        body = []
        for name, a in sorted(found.items()):
            tot = Totals()
            for (_, app), t in window.items():
                if app == name:
                    tot.add(t)
            a["placed"] = len(a["sites"])
            a["healthy"] = sum(1 for s in a["sites"] if s["health"] == "healthy")
            a["recent"] = tot.as_json(SUMMARY_WINDOW_MIN)
            body.append(a)
        return json(body)

    async def one_app(request: Request) -> Response:
        name = request.path_params["app"]
        found = await _apps(hub)
        if name not in found:
            return error(404, f"no app {name!r} in the current GitOps revision")
        seconds = request_range(hub, request)
        since = minute_of(hub.clock()) - seconds // 60
        rows = await asyncio.to_thread(obs.history.store.query, since, None, name)
        series: dict[str, dict[str, Any]] = {}
        for m in rows:
            entry = series.setdefault(m.site, {"site": m.site, "points": []})
            entry["version"] = m.version
            entry["points"].append(point(m))
        body = found[name]
        body.update(range_s=seconds, step_s=60, series=list(series.values()))
        return json(body)

    return [
        route("/api/v1/apps", apps, "GET", ERRORS),
        route("/api/v1/apps/{app}", one_app, "GET", ERRORS),
    ]
