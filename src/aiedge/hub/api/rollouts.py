"""The rollouts side of the API: ``GET /api/v1/rollouts`` (the newest rollouts, their waves, state
and per-site progress), ``GET /api/v1/rollouts/{app}`` (that app's) and the operator's commands
``POST /api/v1/rollouts/{app}/{pause|resume|abort|retry}`` (``?placement=`` for one placement)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.hub.api.http import BadRequest, ErrorTable, Services, json, route
from aiedge.hub.errors import NoRevision, NoSuchRollout, ShuttingDown
from aiedge.hub.rollouts import ACTIONS, RolloutCommandRefused, as_json

ERRORS: ErrorTable = (
    (NoSuchRollout, 404),
    (RolloutCommandRefused, 409),
    (NoRevision, 503),
    (ShuttingDown, 503),
    (BadRequest, 400),
)


def routes(hub: Services) -> list[BaseRoute]:
    def read(app: str | None = None) -> list[dict[str, Any]]:
        return [as_json(r) for r in hub.store.recent_rollouts() if app is None or r.app == app]

    async def rollouts(_request: Request) -> Response:
        return json(await asyncio.to_thread(read))

    async def one_app(request: Request) -> Response:
        app = request.path_params["app"]
        found = await asyncio.to_thread(read, app)
        if not found:
            raise NoSuchRollout(f"no rollout of app {app!r} yet")
        return json(found)

    async def command(request: Request) -> Response:
        app, action = request.path_params["app"], request.path_params["action"]
        if action not in ACTIONS:
            raise BadRequest(f"action: want one of {', '.join(ACTIONS)}, got {action!r}")
        said, found = await hub.fleet.command(app, action, request.query_params.get("placement"))
        return json({"done": said, "rollouts": [as_json(r) for r in found]})

    return [
        route("/api/v1/rollouts", rollouts, "GET", ERRORS),
        route("/api/v1/rollouts/{app}", one_app, "GET", ERRORS),
        route("/api/v1/rollouts/{app}/{action}", command, "POST", ERRORS),
    ]
