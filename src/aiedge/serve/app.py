"""The ASGI application: every REST transport's routes in one table, over one data plane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.rest import control, mlflow, repository, tfserving, v2
from aiedge.serve.rest.asgi import App, Request, Response, Route
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.runtimes.base import LoadOptions
from aiedge.serve.shadow import ShadowMirror


def create_app(
    dp: DataPlane,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    options: LoadOptions | None = None,
    shadow: tuple[ShadowMirror, str] | None = None,
) -> App:
    """``shadow``: the mirror and the control token the agent sets it with (no token: no route)."""

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(dp.metrics.registry), media_type=CONTENT_TYPE_LATEST.encode())

    bodies = Bodies(dp.limits)
    return App(
        [
            *v2.routes(dp, bodies),
            *tfserving.routes(dp, bodies),
            *mlflow.routes(dp, bodies),
            *repository.routes(dp, options or LoadOptions(), bodies),
            *(control.routes(shadow[0], shadow[1], bodies) if shadow else []),
            Route("/metrics", metrics),
        ],
        on_error=error_response,
        on_startup=on_startup,
        on_shutdown=on_shutdown,
    )
