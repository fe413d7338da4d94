"""The hub's HTTP API (``/api/v1``, see :mod:`aiedge.contracts.v1`): decode, call the fleet and
the store, encode. Owns the table from domain errors to HTTP status codes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.contracts import EnrollRequest, StatusReport
from aiedge.gitops import UnknownSite, awaiting_build
from aiedge.hub.clock import Clock
from aiedge.hub.enrolment import check_owner, credential_owner, enroll
from aiedge.hub.errors import EnrolmentRefused, Forbidden, HubError, NoRevision, NotAuthenticated
from aiedge.hub.fleet import Fleet
from aiedge.hub.reports import ReportWriter
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store
from aiedge.hub.summary import site_summary

log = logging.getLogger("aiedge.hub")

_STATUS: list[tuple[type[Exception], int]] = [
    (UnknownSite, 404),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (EnrolmentRefused, 403),
    (NoRevision, 503),
    (HubError, 400),
]


class BadRequest(HubError):
    """A malformed request (query, body)."""


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def _error(status: int, message: str, **extra: Any) -> Response:
    return _json({"error": message, **extra}, status)


def _invalid(e: ValidationError) -> Response:
    details = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in e.errors()]
    first = details[0] if details else {"field": "", "message": "invalid"}
    return _error(422, f"invalid body: {first['field']}: {first['message']}", details=details)


async def _body(request: Request) -> bytes:
    body = await request.body()
    if not body:
        raise BadRequest("empty body: send JSON")
    return body


def build_app(settings: HubSettings, fleet: Fleet, store: Store, clock: Clock) -> Starlette:
    """The Starlette app over one fleet and one store."""
    writer = ReportWriter(store)

    async def check_site(request: Request, site: str) -> None:
        if not settings.insecure_no_auth:
            check_owner(await credential_owner(store, request.headers.get("authorization")), site)

    async def desired(request: Request) -> Response:
        site = request.path_params["site"]
        await check_site(request, site)
        after = request.query_params.get("after")
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            raise BadRequest("wait: must be a number of seconds") from None
        if wait < 0:
            raise BadRequest("wait: must not be negative")
        found = await fleet.wait_desired(site, after, min(wait, settings.max_wait) if after else 0)
        if found is None:
            return Response(status_code=304, headers={"ETag": f'"{after}"'})
        state, digest = found
        return Response(
            state.model_dump_json().encode(),
            headers={"ETag": f'"{digest}"', "X-Aiedge-Digest": digest},
            media_type="application/json",
        )

    async def status(request: Request) -> Response:
        site = request.path_params["site"]
        await check_site(request, site)
        try:
            report = StatusReport.model_validate_json(await _body(request))
        except ValidationError as e:
            return _invalid(e)
        if report.site != site:
            raise BadRequest(f"site: the report is for {report.site!r} but was posted to {site!r}")
        fleet.desired(site)  # 404 for a site the repo doesn't define
        await writer.save(report, clock())
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
        reports = await asyncio.to_thread(store.reports)
        names = list(fleet.current.repo.sites) if fleet.current else []
        return _json(summaries(reports, names))

    async def one_site(request: Request) -> Response:
        site = request.path_params["site"]
        fleet.desired(site)
        seen = await asyncio.to_thread(store.report, site)
        return _json(summaries({site: seen} if seen else {}, [site])[0])

    async def health(_request: Request) -> Response:
        cur = fleet.current
        return _json(
            {
                "status": "ok" if fleet.error is None and cur else "degraded",
                "revision": fleet.revision,
                "error": fleet.error,
                "error_revision": fleet.error_revision,
                "sites": len(cur.repo.sites) if cur else 0,
                "awaiting_build": awaiting_build(cur.repo) if cur else [],
                "auth": not settings.insecure_no_auth,
            }
        )

    async def enroll_site(request: Request) -> Response:
        try:
            body = EnrollRequest.model_validate_json(await _body(request))
        except ValidationError as e:
            return _invalid(e)
        answer = await asyncio.to_thread(enroll, store, body, clock())
        log.info("site %s enrolled (age recipient %s)", answer.site, body.age_recipient or "not sent")
        return _json(answer.model_dump())

    async def webhook(_request: Request) -> Response:
        fleet.poll_now()
        return _json({"status": "polling"}, 202)

    async def on_error(_request: Request, exc: Exception) -> Response:
        for kind, code in _STATUS:
            if isinstance(exc, kind):
                return _error(code, str(exc))
        raise exc

    return Starlette(
        routes=[
            Route("/api/v1/sites/{site}/desired", desired, methods=["GET"]),
            Route("/api/v1/sites/{site}/status", status, methods=["POST"]),
            Route("/api/v1/sites/{site}", one_site, methods=["GET"]),
            Route("/api/v1/sites", sites, methods=["GET"]),
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/api/v1/enroll", enroll_site, methods=["POST"]),
            Route("/api/v1/webhook/git", webhook, methods=["POST"]),
        ],
        exception_handlers={HubError: on_error, UnknownSite: on_error},
    )
