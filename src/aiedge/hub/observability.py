"""The hub's observability core: the per-minute history that remote-write feeds, alerts
(evaluated on a timer, sent to an Alertmanager webhook) and forwarding to a real TSDB.

:mod:`aiedge.hub.api` serves its routes (metrics, apps, alerts); :mod:`aiedge.hub.server` runs
:meth:`Observability.run`. The arithmetic lives in :mod:`aiedge.hub.history`, the rules in
:mod:`aiedge.hub.alerts`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import datetime

import httpx

from aiedge.contracts import AppMinute, SiteSummary
from aiedge.gitops.desired import apps_for_site
from aiedge.gitops.schema_health import DriftSpec
from aiedge.hub import alerts as al
from aiedge.hub.banner import HELD
from aiedge.hub.clock import Clock
from aiedge.hub.drift import DriftTable, drift_alerts
from aiedge.hub.errors import Forbidden
from aiedge.hub.fleet import Fleet
from aiedge.hub.history import History, Totals, totals
from aiedge.hub.rollouts import relevant
from aiedge.hub.rollouts.model import FAILED, SITE_FAILED
from aiedge.hub.series import NOT_DESIRED, SeriesTable
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Minute, Store
from aiedge.hub.summary import Summaries
from aiedge.telemetry.samples import Sample, Series, label_value
from aiedge.telemetry.shipper import Destination, Shipper, make_client
from aiedge.telemetry.summary import buckets_of
from aiedge.telemetry.wal import Wal

log = logging.getLogger("aiedge.hub")


def minute_of(t: datetime) -> int:
    """Minutes since the epoch, as the history numbers them."""
    return int(t.timestamp()) // 60


class Observability:
    """Everything above over one store and fleet."""

    def __init__(self, settings: HubSettings, fleet: Fleet, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.fleet = fleet
        self.store = store
        self.clock = clock
        self.history = History(
            store.metrics, SeriesTable(settings.metrics_max_series_per_site, settings.metrics_series_idle)
        )
        self.alerts = al.Alerts(al.thresholds(settings))
        self.drift = DriftTable(settings.drift_max_per_site, settings.drift_stale_after)
        self.forward_wal: Wal | None = None
        self.forward = [
            Destination(f"fw-{hashlib.sha256(u.encode()).hexdigest()[:12]}", u)
            for u in settings.forward_remote_write
        ]
        self._pending: list[al.Alert] = []
        self.summaries = Summaries()  # kept between reads: the alerts read every site every 10 s

    async def run(self) -> None:
        """Alerts every ``alert_interval``, retention hourly, forwarding shippers; until cancelled
        (the task group then cancels the shippers and waits for them)."""
        async with contextlib.AsyncExitStack() as stack:  # closed after the task group ends
            http = await stack.enter_async_context(httpx.AsyncClient(trust_env=False))
            shippers: list[Shipper] = []
            if self.forward:
                self.forward_wal = wal = await asyncio.to_thread(Wal, self.settings.data / "forward")
                stack.push_async_callback(asyncio.to_thread, wal.close)
                for d in self.forward:
                    client = make_client(d)
                    stack.push_async_callback(client.aclose)
                    shippers.append(Shipper(wal, d, client))
            async with asyncio.TaskGroup() as tg:
                for shipper in shippers:
                    tg.create_task(shipper.run(asyncio.Event()))
                await self._evaluate_forever(http)

    async def _evaluate_forever(self, http: httpx.AsyncClient) -> None:
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

    def retention(self) -> None:
        oldest = minute_of(self.clock()) - int(self.settings.metrics_retention // 60)
        n = self.history.store.delete_before(oldest)
        if n:
            log.info("metrics history: dropped %d minutes past retention", n)
        if self.forward_wal is not None:
            self.forward_wal.enforce_retention()

    def _stopped_rollouts(self) -> list[al.StoppedRollout]:
        cur = self.fleet.current
        if cur is None:
            return []
        out = []
        for r in relevant(self.store.recent_rollouts(), cur.repo):
            if r.state == FAILED:
                failed = [p.message for p in r.progress.values() if p.state == SITE_FAILED]
                out.append(
                    al.StoppedRollout(
                        r.app, r.placement, r.to_digest, len(failed), failed[0] if failed else ""
                    )
                )
        return out

    def _gitops_problem(self) -> al.GitopsProblem | None:
        b = self.fleet.banner
        if b is None:
            return None
        return al.GitopsProblem("held" if b.kind == HELD else "rejected", b.revision, b.message, b.serving)

    async def evaluate_alerts(self, http: httpx.AsyncClient) -> list[al.Alert]:
        now = self.clock()
        sites = await self.site_summaries()
        window = await self.window_totals(self.settings.alert_window)
        stopped = await asyncio.to_thread(self._stopped_rollouts)
        drifting = drift_alerts(self.drift.scores(now), self.drift_spec)
        changed = self.alerts.evaluate(sites, window, now, stopped, self._gitops_problem(), drifting)
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
            return self.summaries.build(cur, self.store.reports(), self.clock(), self.settings.stale_after)

        return await asyncio.to_thread(build)

    async def window_totals(self, seconds: float) -> dict[tuple[str, str], Totals]:
        since = minute_of(self.clock()) - max(1, int(seconds // 60)) + 1
        rows = await asyncio.to_thread(self.history.store.query, since)
        return totals(rows)

    def drift_spec(self, app: str) -> DriftSpec | None:
        """The App's ``spec.drift`` in the revision served (None: the defaults)."""
        cur = self.fleet.current
        found = cur.repo.apps.get(app) if cur is not None else None
        return found.spec.drift if found is not None else None

    def _runs(self, site: str) -> set[tuple[str, str]] | None:
        """The ``(app, model)`` pairs placed on ``site`` in the revision served (awaiting their
        first build or not); None for a site it does not define."""
        cur = self.fleet.current
        if cur is None or site not in cur.repo.sites:
            return None
        placed = {(a.metadata.name, a.spec.model) for a in apps_for_site(cur.repo, site)}
        # apps placed on the facts the site reported are in its desired state
        return placed | {(a.name, a.model) for a in cur.desired(site)[0].apps}

    async def put_minutes(self, site: str, minutes: list[AppMinute]) -> int:
        """A site's own summaries into the history: only of the apps and models it runs (the rest
        are counted as turned away, as for raw series) and within the retention (nor more than a
        few minutes ahead of the hub's clock); how many were stored."""
        runs = self._runs(site) or set()
        now = minute_of(self.clock())
        oldest = now - int(self.settings.metrics_retention // 60)
        keep = [m for m in minutes if (m.app, m.model) in runs and oldest <= m.minute <= now + 5]
        if len(keep) < len(minutes):
            self.history.series.drop(site, NOT_DESIRED, len(minutes) - len(keep))
        rows = [
            Minute(site, m.app, m.model, m.minute, m.version, m.requests, m.errors, m.latency_sum,
                   m.latency_count, buckets_of(m), rejected=m.rejected)
            for m in keep
        ]  # fmt: skip
        return await asyncio.to_thread(self.history.put, rows)

    async def ingest(self, series: list[Series], owner: str | None) -> None:
        """Remote-written series into the history (and the forwarding buffer); with ``owner`` (the
        credential's site) every series must be labelled with that site."""
        if owner is not None:
            for s in series:
                site = label_value(s.labels, "site")
                if site != owner:
                    raise Forbidden(
                        f"this credential belongs to site {owner!r}; a series is labelled site={site!r}"
                    )
        await asyncio.to_thread(self.history.ingest, series, self._runs)
        if self.forward_wal is not None:
            samples = [Sample(s.labels, t, v) for s in series for t, v in s.samples]
            await asyncio.to_thread(self.forward_wal.append, samples)
