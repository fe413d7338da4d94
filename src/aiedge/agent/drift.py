"""Drift scores to the hub: every ``drift_report_interval`` seconds, the scores each serving app's
server exports (``aiedge_model_drift_*`` on its ``/metrics``, read through its site port) go to
the hub as one small :class:`~aiedge.contracts.DriftReport` (``POST .../drift``): a few dozen bytes
per feature, whatever the traffic. Raw series are not needed at the core for drift.

A hub that does not know the route (an older one: 404 or 405) is asked again only every ten
intervals. Failures are logged once and never touch serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from aiedge.agent.errors import AgentError, Waiting
from aiedge.agent.hub_client import HubClient
from aiedge.agent.telemetry import Target, short_digest
from aiedge.contracts import AppDrift, DriftReport, FeatureDrift
from aiedge.contracts.health import MAX_FEATURES

log = logging.getLogger(__name__)

SCORE = "aiedge_model_drift_score"
WINDOW = "aiedge_model_drift_window_rows"
REFERENCE = "aiedge_model_drift_reference_rows"
_MAX_PAGE = 8 * 1024 * 1024


def app_drift(target: Target, text: str) -> AppDrift | None:
    """The drift scores of one app's ``/metrics`` page (None when it exports none yet)."""
    features: list[FeatureDrift] = []
    rows, source = 0, ""
    for family in text_string_to_metric_families(text):
        if family.name not in (SCORE, WINDOW, REFERENCE):
            continue
        for s in family.samples:
            if s.labels.get("model") != target.model:
                continue
            if family.name == WINDOW:
                rows = max(rows, int(s.value))
            elif family.name == REFERENCE:
                source = s.labels.get("source", "")
            elif len(features) < MAX_FEATURES:
                with contextlib.suppress(ValidationError):
                    features.append(FeatureDrift(**_score(s.labels, s.value)))
    if not features:
        return None
    source = source if source in ("reference", "learned") else ""
    return AppDrift(
        app=target.app, version=short_digest(target.digest), rows=rows, source=source, features=features
    )


def _score(labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"kind": labels.get("kind", ""), "feature": labels.get("feature", ""), "score": value}


class DriftReporter:
    def __init__(
        self,
        site: str,
        targets: Callable[[], list[Target]],
        http: httpx.AsyncClient,
        hub: HubClient,
        interval: float,
    ) -> None:
        self.site, self.targets, self.http, self.hub, self.interval = site, targets, http, hub, interval
        self._failing: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        skip = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if stop.is_set():
                return
            if skip > 0:
                skip -= 1
                continue
            skip = await self.report_once()

    async def report_once(self) -> int:
        """Read every app's scores and post them; how many intervals to skip (an older hub)."""
        apps = [a for a in await asyncio.gather(*(self._read(t) for t in self.targets())) if a is not None]
        if not apps:
            return 0
        report = DriftReport(site=self.site, time=datetime.now(UTC), apps=apps)
        try:
            await self.hub.post_drift(report)
        except AgentError as e:
            if str(e) != self._failing:
                log.warning("drift report not sent: %s", e)
            self._failing = str(e)
            return 9 if isinstance(e, Waiting) else 0  # 404: an older hub, or the site not known yet
        if self._failing is not None:
            log.info("drift reports reach the hub again")
            self._failing = None
        return 0

    async def _read(self, target: Target) -> AppDrift | None:
        try:
            r = await self.http.get(target.url, timeout=5.0)
            if r.status_code != 200 or len(r.content) > _MAX_PAGE:
                return None
            return app_drift(target, r.text)
        except (httpx.HTTPError, ValueError):
            return None  # the scrape loop logs an app whose metrics fail
