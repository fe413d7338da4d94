"""Drift over the API: sites post their scores (``POST /api/v1/sites/{site}/drift``, a
:class:`~aiedge.contracts.DriftReport`), people and the dashboard read them
(``GET /api/v1/drift``, ``GET /api/v1/sites/{site}/drift``): per site and app, each feature's
PSI, the App's threshold and whether it drifts."""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.contracts import DriftReport
from aiedge.gitops.desired import apps_for_site
from aiedge.hub.api.http import SITE_ERRORS, BadRequest, Services, body, invalid, json, route
from aiedge.hub.drift import as_json
from aiedge.hub.enrolment import check_owner, credential_owner


def routes(hub: Services) -> list[BaseRoute]:
    obs = hub.observability

    async def post(request: Request) -> Response:
        site = request.path_params["site"]
        if not hub.settings.insecure_no_auth:
            check_owner(await credential_owner(hub.store, request.headers.get("authorization")), site)
        try:
            report = DriftReport.model_validate_json(await body(request))
        except ValidationError as e:
            return invalid(e)
        if report.site != site:
            raise BadRequest(f"site: the report is for {report.site!r} but was posted to {site!r}")
        hub.fleet.desired(site)  # 404 for a site the repo doesn't define
        cur = hub.fleet.current
        placed = {a.metadata.name for a in apps_for_site(cur.repo, site)} if cur is not None else set()
        obs.drift.put(report, placed, hub.clock())
        return Response(status_code=204)

    async def fleet(_request: Request) -> Response:
        return json(as_json(obs.drift.scores(hub.clock()), obs.drift_spec))

    async def one_site(request: Request) -> Response:
        site = request.path_params["site"]
        hub.fleet.desired(site)
        found = as_json(obs.drift.scores(hub.clock(), site), obs.drift_spec)["sites"]
        return json({"site": site, "apps": found.get(site, {})})

    return [
        route("/api/v1/sites/{site}/drift", post, "POST", SITE_ERRORS),
        route("/api/v1/sites/{site}/drift", one_site, "GET", SITE_ERRORS),
        route("/api/v1/drift", fleet, "GET", SITE_ERRORS),
    ]
