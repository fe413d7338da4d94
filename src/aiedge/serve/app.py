"""The ASGI application: every REST transport mounted over one data plane."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.rest import mlflow, repository, tfserving, v2
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.jsonio import json_response
from aiedge.serve.runtimes.base import LoadOptions


def create_app(
    dp: DataPlane,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    options: LoadOptions | None = None,
) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if on_startup is not None:
            await on_startup()
        yield
        if on_shutdown is not None:
            await on_shutdown()

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return json_response({"error": exc.detail}, exc.status_code)

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(dp.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    bodies = Bodies(dp.limits)
    return Starlette(
        routes=[
            *v2.routes(dp, bodies),
            *tfserving.routes(dp, bodies),
            *mlflow.routes(dp, bodies),
            *repository.routes(dp, options or LoadOptions(), bodies),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
    )
