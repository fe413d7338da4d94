"""The GitOps side of the API: ``/api/v1/health`` (the revision served, the last rejected one) and
the Git webhook that asks for a poll at once: signed with the hub's webhook secret
(:mod:`aiedge.hub.webhooks`), however many calls come, at most one poll waits for its turn."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.gitops import awaiting_build
from aiedge.hub.api.http import ErrorTable, Services, json, route
from aiedge.hub.errors import BadWebhook
from aiedge.hub.site_requests import SiteRequests
from aiedge.hub.webhooks import read_secret, verify

ERRORS: ErrorTable = ((BadWebhook, 401),)


def routes(hub: Services, queue: SiteRequests) -> list[BaseRoute]:
    fleet, settings = hub.fleet, hub.settings
    secret = read_secret(settings.webhook_secret_file) if settings.webhook_secret_file else None

    async def health(_request: Request) -> Response:
        cur = fleet.current
        return json(
            {
                "status": "ok" if fleet.error is None and cur else "degraded",
                "revision": fleet.revision,
                "error": fleet.error,
                "error_revision": fleet.error_revision,
                "sites": len(cur.repo.sites) if cur else 0,
                "awaiting_build": awaiting_build(cur.repo) if cur else [],
                "auth": not settings.insecure_no_auth,
                "held_polls": fleet.held_polls,
                "held_requests": queue.held,
                "banner": fleet.banner.as_json() if fleet.banner else None,
            }
        )

    async def webhook(request: Request) -> Response:
        if secret is not None:
            verify(request.headers, await request.body(), secret)
        elif not settings.insecure_no_auth:
            raise BadWebhook("this hub takes no webhook calls: start it with --webhook-secret-file FILE")
        return json({"status": "polling", "queued": fleet.poll_now()}, 202)

    return [
        route("/api/v1/health", health, "GET", ERRORS),
        route("/api/v1/webhook/git", webhook, "POST", ERRORS),
    ]
