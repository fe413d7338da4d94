"""The hub's one route table: every route of every area in it once (the rollouts route included,
no stub), and a method and path declared twice refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from aiedge.hub.api import RouteConflict, Services, build_app, route_table
from aiedge.hub.clock import system_clock
from aiedge.hub.fleet import Fleet
from aiedge.hub.observability import Observability
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store, open_engine


async def _ok(_request: Request) -> Response:
    return Response()


def test_a_path_declared_twice_is_refused() -> None:
    with pytest.raises(RouteConflict, match="GET /api/v1/rollouts is declared twice"):
        route_table([Route("/api/v1/rollouts", _ok, methods=["GET"]), Route("/api/v1/rollouts", _ok)])
    with pytest.raises(RouteConflict, match=r"GET /api/v1/sites/\{\} is declared twice"):
        route_table([Route("/api/v1/sites/{site}", _ok), Route("/api/v1/sites/{name}", _ok)])
    with pytest.raises(RouteConflict, match="MOUNT /static"):
        route_table([Mount("/static", routes=[]), Mount("/static", routes=[])])
    # another method on the same path is another route
    assert len(route_table([Route("/x", _ok, methods=["GET"]), Route("/x", _ok, methods=["POST"])])) == 2


def test_every_route_of_the_hub_is_in_one_table(tmp_path: Path) -> None:
    settings = HubSettings(gitops=tmp_path / "gitops", data=tmp_path)
    store = Store(open_engine(settings.db_url()))
    try:
        fleet = Fleet(tmp_path / "gitops", system_clock, store)
        obs = Observability(settings, fleet, store, system_clock)
        app = build_app(Services(settings, fleet, store, obs, system_clock))
    finally:
        store.close()
    declared = sorted(
        (m, r.path) for r in app.routes if isinstance(r, Route) for m in r.methods or () if m != "HEAD"
    )
    assert declared == sorted(
        [
            ("GET", "/"),
            ("GET", "/login"),
            ("GET", "/api/v1/alerts"),
            ("GET", "/api/v1/apps"),
            ("GET", "/api/v1/apps/{app}"),
            ("GET", "/api/v1/apps/{app}/revisions"),
            ("GET", "/api/v1/drift"),
            ("GET", "/api/v1/health"),
            ("GET", "/api/v1/metrics/summary"),
            ("GET", "/api/v1/rollouts"),
            ("GET", "/api/v1/rollouts/{app}"),
            ("POST", "/api/v1/rollouts/{app}/{action}"),
            ("GET", "/api/v1/sites"),
            ("GET", "/api/v1/sites/{site}"),
            ("GET", "/api/v1/sites/{site}/desired"),
            ("GET", "/api/v1/sites/{site}/drift"),
            ("POST", "/api/v1/sites/{site}/drift"),
            ("GET", "/api/v1/sites/{site}/metrics"),
            ("GET", "/api/v1/sites/{site}/requests"),
            ("POST", "/api/v1/sites/{site}/requests"),
            ("GET", "/api/v1/sites/{site}/requests/{id}"),
            ("POST", "/api/v1/sites/{site}/requests/{id}/answer"),
            ("GET", "/api/v1/whoami"),
            ("POST", "/api/v1/enroll"),
            ("POST", "/api/v1/login"),
            ("POST", "/api/v1/logout"),
            ("POST", "/api/v1/metrics/write"),
            ("POST", "/api/v1/sites/{site}/minutes"),
            ("POST", "/api/v1/sites/{site}/status"),
            ("POST", "/api/v1/webhook/git"),
        ]
    )
    assert [r.path for r in app.routes if isinstance(r, Mount)] == ["/static"]
