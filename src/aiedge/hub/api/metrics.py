"""The metrics side of the API: the remote-write receiver sites ship to, the minute summaries
sites add up themselves (``POST /api/v1/sites/{site}/minutes``), the fleet's recent summary, and
one site's per-minute history. Owns the ``range`` query (``BadRange`` -> 400)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.contracts import MinuteSummaries
from aiedge.hub.api.http import SITE_ERRORS, BadRequest, ErrorTable, Services, body, invalid, json, route
from aiedge.hub.enrolment import check_owner, credential_owner
from aiedge.hub.errors import HubError
from aiedge.hub.history import point
from aiedge.hub.observability import minute_of
from aiedge.hub.settings import HubSettings
from aiedge.telemetry.receiver import Receiver, WriteLimits
from aiedge.telemetry.samples import Series

_RANGE = re.compile(r"^(\d+)([mhd])$")
_UNIT = {"m": 60, "h": 3600, "d": 86400}
SUMMARY_WINDOW_MIN = 5


class BadRange(HubError):
    """A ``range`` query that is not ``<n>m``, ``<n>h`` or ``<n>d``."""


ERRORS: ErrorTable = ((BadRange, 400), *SITE_ERRORS)


def parse_range(text: str, longest_s: float) -> int:
    m = _RANGE.match(text.strip())
    if m is None:
        raise BadRange(f"range: want e.g. 15m, 1h, 24h or 7d, got {text!r}")
    seconds = int(m.group(1)) * _UNIT[m.group(2)]
    if seconds <= 0:
        raise BadRange("range: must be positive")
    return int(min(seconds, longest_s))


def request_range(hub: Services, request: Request) -> int:
    """The ``range`` query in seconds (default 1h, at most the retention)."""
    return parse_range(request.query_params.get("range", "1h"), hub.settings.metrics_retention)


def write_limits(settings: HubSettings) -> WriteLimits:
    return WriteLimits(
        max_body_bytes=settings.metrics_max_body_bytes,
        max_decoded_bytes=settings.metrics_max_decoded_bytes,
        max_series=settings.metrics_max_series,
        max_samples=settings.metrics_max_samples,
        decode_slots=settings.metrics_decode_slots,
        setting_prefix="AIEDGE_HUB_METRICS_",
    )


def routes(hub: Services) -> list[BaseRoute]:
    obs = hub.observability
    receiver = Receiver(write_limits(hub.settings))  # one for all requests: its decode slots are shared

    async def write(request: Request) -> Response:
        owner: str | None = None
        if not hub.settings.insecure_no_auth:
            owner = await credential_owner(hub.store, request.headers.get("authorization"))

        async def sink(series: list[Series]) -> None:
            await obs.ingest(series, owner)

        return await receiver.handle(request, sink)

    async def minutes(request: Request) -> Response:
        """A site's own minute summaries, stored as sent (each replaces the minute it names)."""
        site = request.path_params["site"]
        if not hub.settings.insecure_no_auth:
            check_owner(await credential_owner(hub.store, request.headers.get("authorization")), site)
        data = await body(request)
        try:
            sent = MinuteSummaries.model_validate_json(data)
        except ValidationError as e:
            return invalid(e)
        if sent.site != site:
            raise BadRequest(f"site: the summaries are of {sent.site!r} but were posted to {site!r}")
        hub.fleet.desired(site)  # 404 for a site the repo doesn't define
        await obs.put_minutes(site, sent.minutes)
        return Response(status_code=204)

    async def summary(_request: Request) -> Response:
        """Per site and app over the last few minutes: requests/s, error rate, p50/p99."""
        window = await obs.window_totals(SUMMARY_WINDOW_MIN * 60)
        sites: dict[str, dict[str, Any]] = {}
        for (site, app), tot in window.items():
            sites.setdefault(site, {})[app] = tot.as_json(SUMMARY_WINDOW_MIN)
        return json({"window_s": SUMMARY_WINDOW_MIN * 60, "sites": sites})

    async def site_metrics(request: Request) -> Response:
        site = request.path_params["site"]
        hub.fleet.desired(site)  # 404 for a site the repo does not define
        seconds = request_range(hub, request)
        since = minute_of(hub.clock()) - seconds // 60
        rows = await asyncio.to_thread(obs.history.store.query, since, site)
        apps: dict[tuple[str, str], dict[str, Any]] = {}
        for m in rows:
            entry = apps.setdefault((m.app, m.model), {"app": m.app, "model": m.model, "points": []})
            entry["version"] = m.version
            entry["points"].append(point(m))
        return json(
            {
                "site": site,
                "range_s": seconds,
                "step_s": 60,
                "apps": list(apps.values()),
                "series": obs.history.series_counts(site),
            }
        )

    return [
        route("/api/v1/metrics/write", write, "POST", ERRORS),
        route("/api/v1/sites/{site}/minutes", minutes, "POST", ERRORS),
        route("/api/v1/metrics/summary", summary, "GET", ERRORS),
        route("/api/v1/sites/{site}/metrics", site_metrics, "GET", ERRORS),
    ]
