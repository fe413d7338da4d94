"""The sites' side of the API (:mod:`aiedge.contracts.v1`): a site's desired state (long poll),
its status reports, and the fleet view of every site.

A poll is the site's heartbeat: it touches the site (``last_seen``) when it arrives and is held at
most :attr:`~aiedge.hub.settings.HubSettings.poll_hold` seconds, announced to agents in
``X-Aiedge-Heartbeat``, so a site that polls again at once is seen well within ``stale_after``
and may post its status only when it changes. ``If-None-Match`` with the short ETag of the state
it has (``after=DIGEST`` for older agents) makes an unchanged poll a bodiless 304. The poll also
carries the news of operators' requests (``X-Aiedge-Requests: 1``; every state answer says ``0``
or ``1``): one queued for the site ends its held poll, so an agent needs no second held poll for
them."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.contracts import StatusReport
from aiedge.hub.api.http import SITE_ERRORS, BadRequest, Services, body, invalid, json, route
from aiedge.hub.enrolment import check_owner, credential_owner
from aiedge.hub.errors import NoRevision
from aiedge.hub.reports import ReportWriter
from aiedge.hub.site_requests import SiteRequests
from aiedge.hub.summary import site_summary

REQUESTS = "X-Aiedge-Requests"  # "1": operators' requests wait for the site (GET .../requests)


def wait_seconds(text: str, longest: float) -> float:
    """The ``wait`` query: seconds, finite (a NaN or infinite timer would corrupt the event loop's
    timers for every site), not negative, at most ``longest``."""
    try:
        wait = float(text)
    except ValueError:
        raise BadRequest("wait: must be a number of seconds") from None
    if not math.isfinite(wait):
        raise BadRequest(f"wait: must be a finite number of seconds, got {text[:40]!r}")
    if wait < 0:
        raise BadRequest("wait: must not be negative")
    return min(wait, longest)


def held_for(wait: float) -> float:
    """How long to hold a poll that asked for ``wait``: up to an eighth less, at random. The polls
    one commit woke come back together, and held for the same time they would end together, and
    be renewed together, every hold for good (10,000 sites: a herd of 10,000 requests every 30 s
    that stalls the hub for seconds); a random share of the hold spreads them out (Consul's
    blocking queries do the same)."""
    return wait - random.uniform(0, wait / 8)


def etag(digest: str) -> str:
    """The short entity tag of a desired state: 64 bits of its digest are plenty to tell one
    site's states apart, and each poll sends it."""
    return f'"{digest.removeprefix("sha256:")[:16]}"'


def routes(hub: Services, queue: SiteRequests) -> list[BaseRoute]:
    settings, fleet, store, clock = hub.settings, hub.fleet, hub.store, hub.clock
    writer = ReportWriter(store)

    async def check_site(request: Request, site: str) -> None:
        if not settings.insecure_no_auth:
            check_owner(await credential_owner(store, request.headers.get("authorization")), site)

    async def desired(request: Request) -> Response:
        site = request.path_params["site"]
        await check_site(request, site)
        hold = settings.poll_hold
        wait = wait_seconds(request.query_params.get("wait", "0"), hold)
        current = fleet.desired(site)[1]  # 404 for a site the repo doesn't define
        writer.touch(site, clock())
        tag = request.headers.get("if-none-match")
        after = request.query_params.get("after")
        if tag is not None:
            after = current if tag.strip() == etag(current) else None
        told = queue.tell(site)  # requests wait for the site: answered at once
        found = await fleet.wait_desired(site, after, held_for(wait) if after and not told else 0)
        told = told or queue.tell(site)  # or the poll was ended for one queued meanwhile
        if found is None:
            headers = {"ETag": tag.strip() if tag else f'"{after}"'}
            if told:
                headers[REQUESTS] = "1"
            return Response(status_code=304, headers=headers)
        state, digest = found
        return Response(
            state.model_dump_json().encode(),
            headers={
                "ETag": etag(digest),
                "X-Aiedge-Digest": digest,
                "X-Aiedge-Heartbeat": f"{hold:g}",
                REQUESTS: "1" if told else "0",  # said on every state: agents learn the hub tells
            },
            media_type="application/json",
        )

    async def status(request: Request) -> Response:
        site = request.path_params["site"]
        await check_site(request, site)
        try:
            data = await body(request)
            report = StatusReport.model_validate_json(data)
        except ValidationError as e:
            return invalid(e)
        if report.site != site:
            raise BadRequest(f"site: the report is for {report.site!r} but was posted to {site!r}")
        fleet.desired(site)  # 404 for a site the repo doesn't define
        await writer.save(report, clock())
        await fleet.facts_reported(site, report.facts)
        return Response(status_code=204)

    def summaries(reports: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
        cur = fleet.current
        if cur is None:
            raise NoRevision(f"no valid GitOps revision loaded yet: {fleet.error or 'not read yet'}")
        now = clock()
        return [
            site_summary(
                n,
                cur.repo.sites[n].metadata.labels,
                cur.desired(n)[0],
                reports.get(n),
                now,
                settings.stale_after,
                cur.repo.sites[n].spec.age_recipient,
            ).model_dump(mode="json")
            for n in names
        ]

    async def sites(_request: Request) -> Response:
        if fleet.current is None:
            raise NoRevision(f"no valid GitOps revision loaded yet: {fleet.error or 'not read yet'}")
        found = await hub.observability.site_summaries()  # the summaries the alerts keep
        return json(await asyncio.to_thread(lambda: [s.model_dump(mode="json") for s in found]))

    async def one_site(request: Request) -> Response:
        site = request.path_params["site"]
        fleet.desired(site)
        seen = await asyncio.to_thread(store.report, site)
        return json(summaries({site: seen} if seen else {}, [site])[0])

    return [
        route("/api/v1/sites/{site}/desired", desired, "GET", SITE_ERRORS),
        route("/api/v1/sites/{site}/status", status, "POST", SITE_ERRORS),
        route("/api/v1/sites/{site}", one_site, "GET", SITE_ERRORS),
        route("/api/v1/sites", sites, "GET", SITE_ERRORS),
    ]
