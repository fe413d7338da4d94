"""The hub's observability: the remote-write receiver sites ship metrics to, the per-minute history
behind the metrics API, alerts (evaluated on a timer, sent to an Alertmanager webhook), forwarding
to a real TSDB, and the dashboard's routes.

Owns the HTTP routes under ``/api/v1`` for metrics, apps, alerts and rollouts, and the background
loop. :mod:`aiedge.hub.server` mounts it with :meth:`Observability.mount` and runs
:meth:`Observability.run`; the arithmetic lives in :mod:`aiedge.hub.history`, the rules in
:mod:`aiedge.hub.alerts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aiedge.contracts import SiteSummary
from aiedge.hub import alerts as al
from aiedge.hub.clock import Clock
from aiedge.hub.dashboard import dashboard_routes
from aiedge.hub.enrolment import credential_owner
from aiedge.hub.errors import Forbidden, HubError
from aiedge.hub.fleet import Fleet
from aiedge.hub.history import History, Totals, point, totals
from aiedge.hub.metrics_store import MetricsStore
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store
from aiedge.hub.summary import site_summary
from aiedge.telemetry.receiver import make_write_endpoint
from aiedge.telemetry.samples import Sample, Series, label_value
from aiedge.telemetry.shipper import Destination, Shipper, make_client
from aiedge.telemetry.wal import Wal

log = logging.getLogger("aiedge.hub")

_RANGE = re.compile(r"^(\d+)([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}
SUMMARY_WINDOW_MIN = 5


class BadRange(HubError):
    """A ``range`` query that is not ``<n>m``, ``<n>h`` or ``<n>d``."""


def parse_range(text: str, longest_s: float) -> int:
    m = _RANGE.match(text.strip())
    if m is None:
        raise BadRange(f"range: want e.g. 15m, 1h, 24h or 7d, got {text!r}")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise BadRange("range: must be positive")
    return int(min(seconds, longest_s))


def _json(body: Any) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


def _minute(t: datetime) -> int:
    return int(t.timestamp()) // 60


class Observability:
    """Everything above over one engine, store and fleet."""

    def __init__(
        self, settings: HubSettings, fleet: Fleet, store: Store, engine: Engine, clock: Clock
    ) -> None:
        self.settings = settings
        self.fleet = fleet
        self.store = store
        self.clock = clock
        self.history = History(MetricsStore(engine))
        self.alerts = al.Alerts(
            al.Thresholds(
                site_unknown_after=settings.alert_site_unknown_after,
                error_rate=settings.alert_error_rate,
                p99_seconds=settings.alert_p99,
                min_requests=settings.alert_min_requests,
                window_s=settings.alert_window,
            )
        )
        self.forward_wal: Wal | None = None
        self.forward = [
            Destination(f"fw-{hashlib.sha256(u.encode()).hexdigest()[:12]}", u)
            for u in settings.forward_remote_write
        ]
        self._pending: list[al.Alert] = []

    # -- wiring ------------------------------------------------------------------------------

    def mount(self, app: Starlette) -> None:
        """Add the routes to the hub's app (a rollouts route already there wins over ours)."""
        taken = {getattr(r, "path", None) for r in app.router.routes}
        app.router.routes.extend(r for r in self.routes() if getattr(r, "path", None) not in taken)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/api/v1/metrics/write", self.write, methods=["POST"]),
            Route("/api/v1/metrics/summary", self.summary, methods=["GET"]),
            Route("/api/v1/sites/{site}/metrics", self.site_metrics, methods=["GET"]),
            Route("/api/v1/apps", self.apps, methods=["GET"]),
            Route("/api/v1/apps/{app}", self.one_app, methods=["GET"]),
            Route("/api/v1/alerts", self.alerts_json, methods=["GET"]),
            Route("/api/v1/rollouts", self.rollouts, methods=["GET"]),
            *dashboard_routes(),
        ]

    async def run(self) -> None:
        """Alerts every ``alert_interval``, retention hourly, forwarding shippers; until cancelled."""
        tasks: list[asyncio.Task[None]] = []
        clients: list[httpx.AsyncClient] = []
        if self.forward:
            self.forward_wal = wal = await asyncio.to_thread(Wal, self.settings.data / "forward")
            for d in self.forward:
                client = make_client(d)
                clients.append(client)
                tasks.append(asyncio.create_task(Shipper(wal, d, client).run(asyncio.Event())))
        try:
            async with httpx.AsyncClient(trust_env=False) as http:
                last_retention = 0.0
                loop = asyncio.get_running_loop()
                while True:
                    await asyncio.sleep(self.settings.alert_interval)
                    try:
                        await self.evaluate_alerts(http)
                        if loop.time() - last_retention > 3600:
                            last_retention = loop.time()
                            await asyncio.to_thread(self.retention)
                    except Exception:  # a bad evaluation must not end the loop
                        log.exception("alert evaluation failed")
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            for c in clients:
                await c.aclose()
            if self.forward_wal is not None:
                await asyncio.to_thread(self.forward_wal.close)

    def retention(self) -> None:
        oldest = _minute(self.clock()) - int(self.settings.metrics_retention // 60)
        n = self.history.store.delete_before(oldest)
        if n:
            log.info("metrics history: dropped %d minutes past retention", n)
        if self.forward_wal is not None:
            self.forward_wal.enforce_retention()

    async def evaluate_alerts(self, http: httpx.AsyncClient) -> list[al.Alert]:
        now = self.clock()
        sites = await self.site_summaries()
        window = await self.window_totals(self.settings.alert_window)
        changed = self.alerts.evaluate(sites, window, now)
        for a in changed:
            log.info("alert %s %s: %s", a.name, "resolved" if a.ends_at else "firing", a.summary)
        url = self.settings.alert_webhook
        if url and (changed or self._pending):
            batch = self._pending + changed
            external = f"http://{self.settings.host}:{self.settings.port}"
            ok = await al.notify(http, url, batch, external)
            self._pending = [] if ok else batch[-1000:]  # retried on the next evaluation
        return changed

    # -- reads ---------------------------------------------------------------------------------

    async def site_summaries(self) -> list[SiteSummary]:
        cur = self.fleet.current
        if cur is None:
            return []

        def build() -> list[SiteSummary]:  # off the event loop: thousands of sites
            reports = self.store.reports()
            now = self.clock()
            return [
                site_summary(
                    n,
                    s.metadata.labels,
                    cur.desired(n)[0],
                    reports.get(n),
                    now,
                    self.settings.stale_after,
                    s.spec.age_recipient,
                )
                for n, s in cur.repo.sites.items()
            ]

        return await asyncio.to_thread(build)

    async def window_totals(self, seconds: float) -> dict[tuple[str, str], Totals]:
        since = _minute(self.clock()) - max(1, int(seconds // 60)) + 1
        rows = await asyncio.to_thread(self.history.store.query, since)
        return totals(rows)

    # -- endpoints -----------------------------------------------------------------------------

    async def write(self, request: Request) -> Response:
        owner: str | None = None
        if not self.settings.insecure_no_auth:
            owner = await credential_owner(self.store, request.headers.get("authorization"))

        async def sink(series: list[Series]) -> None:
            if owner is not None:
                for s in series:
                    site = label_value(s.labels, "site")
                    if site != owner:
                        raise Forbidden(
                            f"this credential belongs to site {owner!r}; a series is labelled site={site!r}"
                        )
            await asyncio.to_thread(self.history.ingest, series)
            if self.forward_wal is not None:
                samples = [Sample(s.labels, t, v) for s in series for t, v in s.samples]
                await asyncio.to_thread(self.forward_wal.append, samples)

        return await make_write_endpoint(sink)(request)

    async def summary(self, _request: Request) -> Response:
        """Per site and app over the last few minutes: requests/s, error rate, p50/p99."""
        window = await self.window_totals(SUMMARY_WINDOW_MIN * 60)
        sites: dict[str, dict[str, Any]] = {}
        for (site, app), tot in window.items():
            sites.setdefault(site, {})[app] = tot.as_json(SUMMARY_WINDOW_MIN)
        return _json({"window_s": SUMMARY_WINDOW_MIN * 60, "sites": sites})

    def _range(self, request: Request) -> int:
        return parse_range(request.query_params.get("range", "1h"), self.settings.metrics_retention)

    async def site_metrics(self, request: Request) -> Response:
        site = request.path_params["site"]
        self.fleet.desired(site)  # 404 for a site the repo does not define
        seconds = self._range(request)
        since = _minute(self.clock()) - seconds // 60
        rows = await asyncio.to_thread(self.history.store.query, since, site)
        apps: dict[tuple[str, str], dict[str, Any]] = {}
        for m in rows:
            entry = apps.setdefault((m.app, m.model), {"app": m.app, "model": m.model, "points": []})
            entry["version"] = m.version
            entry["points"].append(point(m))
        return _json({"site": site, "range_s": seconds, "step_s": 60, "apps": list(apps.values())})

    async def _apps(self) -> dict[str, dict[str, Any]]:
        cur = self.fleet.current
        if cur is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name in cur.repo.apps:
            out[name] = {"name": name, "sites": []}
        for s in await self.site_summaries():
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

    async def apps(self, _request: Request) -> Response:
        apps = await self._apps()
        window = await self.window_totals(SUMMARY_WINDOW_MIN * 60)
        body = []
        for name, a in sorted(apps.items()):
            tot = Totals()
            for (_, app), t in window.items():
                if app == name:
                    tot.requests += t.requests
                    tot.errors += t.errors
                    for le, c in (t.buckets or {}).items():
                        tot.buckets = tot.buckets or {}
                        tot.buckets[le] = tot.buckets.get(le, 0.0) + c
            a["placed"] = len(a["sites"])
            a["healthy"] = sum(1 for s in a["sites"] if s["health"] == "healthy")
            a["recent"] = tot.as_json(SUMMARY_WINDOW_MIN)
            body.append(a)
        return _json(body)

    async def one_app(self, request: Request) -> Response:
        name = request.path_params["app"]
        apps = await self._apps()
        if name not in apps:
            return Response(
                orjson.dumps({"error": f"no app {name!r} in the current GitOps revision"}),
                404,
                media_type="application/json",
            )
        seconds = self._range(request)
        since = _minute(self.clock()) - seconds // 60
        rows = await asyncio.to_thread(self.history.store.query, since, None, name)
        series: dict[str, dict[str, Any]] = {}
        for m in rows:
            entry = series.setdefault(m.site, {"site": m.site, "points": []})
            entry["version"] = m.version
            entry["points"].append(point(m))
        body = apps[name]
        body.update(range_s=seconds, step_s=60, series=list(series.values()))
        return _json(body)

    async def alerts_json(self, _request: Request) -> Response:
        return _json(self.alerts.as_json())

    async def rollouts(self, _request: Request) -> Response:
        return _json([])
