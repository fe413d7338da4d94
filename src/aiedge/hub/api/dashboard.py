"""The dashboard the hub serves at ``/``: plain HTML, CSS and JavaScript from ``hub/static``
(package data, no build step, nothing fetched from the internet). The page reads the same
``/api/v1`` endpoints as ``aiedge status``; this module only serves the files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(str(resources.files("aiedge.hub") / "static"))


async def index(_request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def login(_request: Request) -> Response:
    """The page that takes an operator token (``POST /api/v1/login`` keeps it in a cookie)."""
    return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-cache"})


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/login", login, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
