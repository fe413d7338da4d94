"""``GET /api/v1/alerts``: the alerts firing and the recently resolved ones."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.hub.api.http import ErrorTable, Services, json, route

ERRORS: ErrorTable = ()


def routes(hub: Services) -> list[BaseRoute]:
    async def alerts(_request: Request) -> Response:
        return json(hub.observability.alerts.as_json())

    return [route("/api/v1/alerts", alerts, "GET", ERRORS)]
