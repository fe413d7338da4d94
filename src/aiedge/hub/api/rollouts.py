"""``GET /api/v1/rollouts``: the newest rollouts, their waves, state and per-site progress."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.hub.api.http import ErrorTable, Services, json, route
from aiedge.hub.rollouts import as_json

ERRORS: ErrorTable = ()


def routes(hub: Services) -> list[BaseRoute]:
    def read() -> list[dict[str, Any]]:
        return [as_json(r) for r in hub.store.recent_rollouts()]

    async def rollouts(_request: Request) -> Response:
        return json(await asyncio.to_thread(read))

    return [route("/api/v1/rollouts", rollouts, "GET", ERRORS)]
