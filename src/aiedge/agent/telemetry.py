"""The site's metrics path: scrape every serving app through its site port, buffer the samples in
the on-disk WAL (``DATA/telemetry``, kept for its retention whoever has read them), send the hub
the per-minute summaries of each app (:mod:`aiedge.agent.summaries`), and ship the raw series to
the extra remote-write and OTLP destinations, oldest first, through outages. A hub that takes no
summaries (an older one, or ``hub_metrics: raw``) gets the raw series as before.

Owns the scrape loop, the choice of targets and their labels (``site``, ``app``, ``model``,
``version`` = the short image digest) and the shippers' lifetimes. Parsing, buffering and sending
live in :mod:`aiedge.telemetry`; which apps run is the reconciler's business (passed in as a
callable, read on every scrape).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from aiedge.agent.hub_client import HubClient
from aiedge.agent.link import LinkMeter, MeteredTransport
from aiedge.agent.settings import AgentSettings
from aiedge.agent.summaries import CONSUMER as SUMMARY_CONSUMER
from aiedge.agent.summaries import SummaryShipper
from aiedge.agent.tasks import run_all
from aiedge.telemetry.scrape import scrape_with_up
from aiedge.telemetry.shipper import Destination, Shipper, make_client
from aiedge.telemetry.wal import Wal, WalSettings

log = logging.getLogger(__name__)

HUB_DESTINATION = "hub"


@dataclass(frozen=True, slots=True)
class Target:
    """One app's metrics endpoint and the labels its samples get."""

    app: str
    model: str
    digest: str
    url: str

    def labels(self, site: str) -> dict[str, str]:
        return {"site": site, "app": self.app, "model": self.model, "version": short_digest(self.digest)}


Targets = Callable[[], list[Target]]


def short_digest(digest: str) -> str:
    """``sha256:0123456789ab`` (the algorithm and 12 hex digits), as people quote digests."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]


def destinations(settings: AgentSettings, credential: str | None) -> list[Destination]:
    """The hub (with the site's credential), every ``--remote-write`` URL and every ``--otlp`` URL.

    An extra destination's cursor is named after a hash of its URL, so reordering the flags
    keeps each one's place in the buffer.
    """
    hub = Destination(
        HUB_DESTINATION,
        f"{settings.hub.rstrip('/')}/api/v1/metrics/write",
        bearer_token=credential,
        ca_file=settings.ca,  # the hub's private CA, as for its desired state
    )
    extra = [
        Destination(f"rw-{hashlib.sha256(url.encode()).hexdigest()[:12]}", url)
        for url in settings.remote_write
    ]
    otlp = [
        Destination(
            f"otlp-{hashlib.sha256(url.encode()).hexdigest()[:12]}",
            url,
            protocol="otlp",
            resource={"aiedge.site": settings.site},
        )
        for url in settings.otlp
    ]
    return [hub, *extra, *otlp]


class Telemetry:
    """Scrapes ``targets()`` every ``settings.scrape_interval`` into a WAL and ships it; :meth:`run`
    until cancelled or ``stop`` is set."""

    def __init__(
        self,
        settings: AgentSettings,
        targets: Targets,
        http: httpx.AsyncClient,
        credential: str | None,
        hub: HubClient | None = None,
        meter: LinkMeter | None = None,
    ) -> None:
        self.settings = settings
        self.targets = targets
        self.meter = meter
        self.http = http
        self.hub = hub
        self.destinations = destinations(settings, credential)
        self.shippers: list[Shipper] = []
        self.summaries: SummaryShipper | None = None
        self.wal: Wal | None = None

    def _summaries_to_hub(self) -> bool | None:
        """Whether the hub gets summaries (True) or raw series (False); None while not known."""
        mode = self.settings.hub_metrics
        if self.hub is None or mode == "raw":
            return False
        return True if mode == "summaries" else self.hub.takes_summaries

    async def run(self, stop: asyncio.Event) -> None:
        wal_settings = WalSettings(
            max_bytes=self.settings.telemetry_max_bytes,
            max_age_s=self.settings.telemetry_max_age,
            keep_consumed=True,
        )
        self.wal = wal = await asyncio.to_thread(Wal, self.settings.telemetry_dir, wal_settings)
        clients = [make_client(d, self._wrap(d)) for d in self.destinations]
        self.shippers = [Shipper(wal, d, c) for d, c in zip(self.destinations, clients, strict=True)]
        # consumers no longer configured would hold their data until retention: forget them
        wanted = {d.name for d in self.destinations} | {SUMMARY_CONSUMER}
        for name in await asyncio.to_thread(wal.consumers):
            if name not in wanted:
                await asyncio.to_thread(wal.remove_consumer, name)
        tasks = {
            f"ship-{s.destination.name}": s.run(stop, active=self._active(s.destination))
            for s in self.shippers
        }
        if self.hub is not None:
            self.summaries = SummaryShipper(
                wal,
                self.settings.telemetry_dir / "summary-state.json",
                self.hub.post_minutes,
                replaces=HUB_DESTINATION,
            )
            tasks["summaries"] = self.summaries.run(stop, active=lambda: self._summaries_to_hub() is True)
        tasks["scrape"] = self._scrape_loop(wal, stop)
        try:
            await run_all(tasks)
        finally:
            for c in clients:
                await c.aclose()
            await asyncio.to_thread(wal.close)

    def _wrap(
        self, destination: Destination
    ) -> Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None:
        """The hub's raw series cross the site's link: their bytes are counted as metrics."""
        meter = self.meter
        if destination.name != HUB_DESTINATION or meter is None:
            return None
        return lambda inner: MeteredTransport(inner, meter, lambda _: "metrics")

    def _active(self, destination: Destination) -> Callable[[], bool]:
        if destination.name != HUB_DESTINATION:
            return lambda: True
        meter = self.meter
        # raw series are the last thing a spent budget pays for before downloads: they wait
        return lambda: self._summaries_to_hub() is False and (meter is None or meter.raw_metrics_allowed())

    async def _scrape_loop(self, wal: Wal, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        failing: dict[str, str] = {}
        while not stop.is_set():
            started = loop.time()
            await self.scrape_once(wal, failing)
            await asyncio.to_thread(wal.enforce_retention)
            delay = max(0.0, self.settings.scrape_interval - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def scrape_once(self, wal: Wal, failing: dict[str, str] | None = None) -> int:
        """Scrape every target once and append what came back; how many samples were appended."""
        failing = {} if failing is None else failing
        targets = self.targets()
        results = await asyncio.gather(
            *(scrape_with_up(self.http, t.url, t.labels(self.settings.site), timeout_s=5.0) for t in targets)
        )
        samples = []
        for target, (got, error) in zip(targets, results, strict=True):
            samples.extend(got)
            # log a failing target once, not every interval
            if error is not None and failing.get(target.app) != str(error):
                log.warning("metrics of app %s: %s", target.app, error)
                failing[target.app] = str(error)
            elif error is None and target.app in failing:
                log.info("metrics of app %s scraped again", target.app)
                del failing[target.app]
        if samples:
            await asyncio.to_thread(wal.append, samples)
        return len(samples)
