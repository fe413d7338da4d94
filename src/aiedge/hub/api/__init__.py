"""The hub's HTTP API, every route of it: the sites' side (desired state, status, enrolment), the
GitOps side (health, webhook), metrics, apps, alerts, rollouts and the dashboard. Each area is a
module with its routes and the table from its domain errors to status codes; :func:`build_app`
puts them in one route table, where a path declared twice is an error at start-up."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import BaseRoute, Mount, Route

from aiedge.hub.api import (
    alerts,
    apps,
    auth,
    dashboard,
    drift,
    enrolment,
    gitops,
    metrics,
    revisions,
    rollouts,
    site_requests,
    sites,
)
from aiedge.hub.api.http import Services
from aiedge.hub.api.limits import BodyLimits, LimitBodies
from aiedge.hub.site_requests import SiteRequests


class RouteConflict(Exception):
    """Two routes claim the same method and path: a bug in the route table, refused at start-up."""


def route_table(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """``routes`` as a list, refusing a (method, path) or mount declared twice: Starlette would
    silently serve the first and never the second."""
    seen: set[tuple[str, str]] = set()
    out = list(routes)
    for r in out:
        if isinstance(r, Route):
            path = re.sub(r"\{[^}]*\}", "{}", r.path)  # /sites/{site} and /sites/{name} are one path
            keys = [(m, path) for m in sorted(r.methods or {"*"}) if m != "HEAD"]
        elif isinstance(r, Mount):
            keys = [("MOUNT", r.path)]
        else:
            raise RouteConflict(f"unexpected route type {type(r).__name__}")
        for key in keys:
            if key in seen:
                raise RouteConflict(f"{key[0]} {key[1]} is declared twice in the hub's route table")
            seen.add(key)
    return out


def build_app(hub: Services) -> Starlette:
    """The Starlette app over the hub's services: one route table for every area, each route
    behind the credential it needs (:mod:`.auth`), every body read within its route's limits first,
    answers over 1 KB gzipped for clients that take it."""
    queue = SiteRequests(hub.store, hub.clock, on_queued=hub.fleet.end_polls)  # requests to sites
    hub.fleet.on_close(queue.close)
    return Starlette(
        middleware=[
            Middleware(LimitBodies, limits=BodyLimits.of(hub.settings)),
            Middleware(GZipMiddleware, minimum_size=1024),
        ],
        routes=auth.guard(
            route_table(
                [
                    *sites.routes(hub, queue),
                    *site_requests.routes(hub, queue),
                    *enrolment.routes(hub),
                    *gitops.routes(hub, queue),
                    *metrics.routes(hub),
                    *apps.routes(hub),
                    *revisions.routes(hub),
                    *alerts.routes(hub),
                    *drift.routes(hub),
                    *rollouts.routes(hub),
                    *auth.routes(hub),
                    *dashboard.routes(),
                ]
            ),
            hub,
        ),
    )


__all__ = ["RouteConflict", "Services", "build_app", "route_table"]
