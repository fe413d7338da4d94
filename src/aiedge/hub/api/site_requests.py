"""Requests to sites through their own outbound connection (:mod:`aiedge.contracts.requests`):
an operator queues ``logs`` or ``diagnose`` for a site and waits for the answer; the site's agent
fetches its requests when its desired-state poll says some wait (older agents long-poll for them)
and posts each answer. Thin transport over
:class:`~aiedge.hub.site_requests.SiteRequests`.

Logs can carry data: both operator routes need an admin token (:mod:`aiedge.hub.api.auth`), and
a site's credential reads no operator route.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.contracts import RequestSpec, SiteAnswer
from aiedge.hub.api.http import SITE_ERRORS, BadRequest, Services, body, invalid, json, route
from aiedge.hub.api.sites import wait_seconds
from aiedge.hub.enrolment import check_owner, credential_owner
from aiedge.hub.site_requests import SiteRequests


class NoSuchRequest(BadRequest):
    """No request of that number for that site."""


ERRORS = ((NoSuchRequest, 404), *SITE_ERRORS)


def routes(hub: Services, requests: SiteRequests) -> list[BaseRoute]:
    settings, store = hub.settings, hub.store

    async def site_only(request: Request, site: str) -> None:
        if not settings.insecure_no_auth:
            check_owner(await credential_owner(store, request.headers.get("authorization")), site)

    def number(request: Request) -> int:
        try:
            return int(request.path_params["id"])
        except ValueError:
            raise NoSuchRequest(f"request {request.path_params['id'][:40]!r}: not a request number") from None

    async def pending(request: Request) -> Response:
        site = request.path_params["site"]
        await site_only(request, site)
        hub.fleet.desired(site)  # 404 for a site the repo doesn't define
        wait = wait_seconds(request.query_params.get("wait", "0"), settings.max_wait)
        found = await requests.take(site, wait)
        return json([r.model_dump(mode="json") for r in found])

    async def answer(request: Request) -> Response:
        site = request.path_params["site"]
        await site_only(request, site)
        try:
            given = SiteAnswer.model_validate_json(await body(request))
        except ValidationError as e:
            return invalid(e)
        if not await requests.answer(site, number(request), given):
            raise NoSuchRequest(f"site {site} has no open request {number(request)}")
        return Response(status_code=204)

    async def ask(request: Request) -> Response:
        site = request.path_params["site"]
        hub.fleet.desired(site)
        try:
            spec = RequestSpec.model_validate_json(await body(request))
        except ValidationError as e:
            return invalid(e)
        return json({"id": await requests.queue(site, spec), "site": site}, status=202)

    async def view(request: Request) -> Response:
        site = request.path_params["site"]
        wait = wait_seconds(request.query_params.get("wait", "0"), settings.max_wait)
        found = await requests.view(site, number(request), wait)
        if found is None:
            raise NoSuchRequest(f"site {site} has no request {number(request)}")
        return json(found.model_dump(mode="json"))

    return [
        route("/api/v1/sites/{site}/requests", pending, "GET", ERRORS),
        route("/api/v1/sites/{site}/requests", ask, "POST", ERRORS),
        route("/api/v1/sites/{site}/requests/{id}", view, "GET", ERRORS),
        route("/api/v1/sites/{site}/requests/{id}/answer", answer, "POST", ERRORS),
    ]
