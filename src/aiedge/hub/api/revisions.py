"""An app's revision history for the dashboard: ``GET /api/v1/apps/{app}/revisions``, newest
first, one entry per rollout of the app (each a GitOps commit that changed what the app runs):
the commit (sha, author, when, subject, read from the GitOps repo; null when the repo no longer
has it or is a plain folder), the digest it moved from and to, how the rollout stands, and when
each site switched (reached it, got healthy on it, or failed it)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from aiedge.gitops.source import commits, revision_sha
from aiedge.hub.api.http import Services, json, route
from aiedge.hub.api.rollouts import ERRORS
from aiedge.hub.rollouts import as_json

_KEPT = (
    "id",
    "placement",
    "revision",
    "from_digest",
    "to_digest",
    "state",
    "phase",
    "started_at",
    "updated_at",
)


def routes(hub: Services) -> list[BaseRoute]:
    def read(app: str) -> list[dict[str, Any]]:
        found = [as_json(r) for r in hub.store.recent_rollouts() if r.app == app]
        shas = {r["revision"]: revision_sha(r["revision"]) for r in found}
        known = commits(hub.fleet.source, [s for s in shas.values() if s])
        out = []
        for r in found:
            commit = known.get(shas[r["revision"]] or "")
            out.append(
                {
                    **{k: r[k] for k in _KEPT},
                    "commit": asdict(commit) if commit else None,
                    "sites": {
                        n: {"state": p["state"], "since": p["since"], "reached": p["reached"]}
                        for n, p in r["sites"].items()
                    },
                }
            )
        return out

    async def revisions(request: Request) -> Response:
        return json(await asyncio.to_thread(read, request.path_params["app"]))

    return [route("/api/v1/apps/{app}/revisions", revisions, "GET", ERRORS)]
