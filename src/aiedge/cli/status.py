"""`aiedge status`: the fleet as a table (site, status, last seen, revision, app digests, health,
downloads under way) and, below it, the rollouts (target digest, wave, sites done/failed/updating/
pending, state); ``-o json|yaml`` for the list of SiteSummary; ``--rollouts`` shows only the
rollouts; `aiedge status SITE` shows one site: its apps, digests, health, downloads, last error
and recent metrics (server errors and rejected requests apart); ``-o wide`` adds labels, URLs and
full digests; ``--watch`` follows it (``cli/watch.py``). Above any of them, a banner when the
GitOps repo's HEAD is not what the hub serves (invalid, or held), with file:line:col and the
revision still served. The hub comes from ``--hub``, ``AIEDGE_HUB`` or a context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console, Group, RenderableType

from aiedge.cli.credentials import CA, CONTEXT, HUB, TOKEN_FILE, Hub, connect
from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.cli.status_views import banner_text, fleet_table, rollouts_table, site_view
from aiedge.cli.watch import watch as follow
from aiedge.contracts import SiteSummary
from aiedge.errors import AiedgeError


def _get(hub: Hub, path: str) -> httpx.Response:
    r = hub.request("GET", path)
    if r.status_code == 404 and path.startswith("/api/v1/sites/"):
        raise AiedgeError(f"the hub at {hub} knows no site {path.split('/')[4]!r}")
    if r.status_code != 200:
        raise AiedgeError(f"the hub at {hub} answered {r.status_code}: {r.text.strip()[:200]}")
    return r


def fetch_sites(hub: Hub) -> list[SiteSummary]:
    r = _get(hub, "/api/v1/sites")
    try:
        return TypeAdapter(list[SiteSummary]).validate_json(r.content)
    except ValidationError as e:
        raise AiedgeError(f"the hub at {hub} sent an unexpected answer: {e.errors()[0]['msg']}") from e


def fetch_rollouts(hub: Hub) -> list[dict[str, Any]]:
    """The newest rollout of each placement's app (superseded ones left out), newest first."""
    body = _get(hub, "/api/v1/rollouts").json()
    if not isinstance(body, list):
        raise AiedgeError(f"the hub at {hub} sent an unexpected answer to /api/v1/rollouts")
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for r in body:  # the hub lists the newest first
        key = (r["placement"], r["app"])
        if key not in seen:
            seen.add(key)
            if r["state"] != "superseded":
                out.append(r)
    return out


def fetch_banner(hub: Hub) -> dict[str, Any] | None:
    """Why the hub does not serve the repo's HEAD (``/api/v1/health``), or None."""
    banner = _get(hub, "/api/v1/health").json().get("banner")
    return banner if isinstance(banner, dict) else None


def site_detail(hub: Hub, site: str) -> dict[str, Any]:
    summary = _get(hub, f"/api/v1/sites/{site}").json()
    metrics = _get(hub, f"/api/v1/sites/{site}/metrics?range=15m").json()
    return {"site": summary, "metrics": metrics}


def _with_banner(hub: Hub, view: RenderableType) -> RenderableType:
    b = fetch_banner(hub)
    return Group(banner_text(b), view) if b else view


def status_command(
    site: str | None = typer.Argument(None, help="Show this one site in detail."),
    hub_url: str | None = HUB,
    ca: Path | None = CA,
    context: str | None = CONTEXT,
    token_file: Path | None = TOKEN_FILE,
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
    rollouts: bool = typer.Option(
        False, "--rollouts", help="Show only the rollouts: per app, target digest, wave, sites, state."
    ),
    watch: bool = typer.Option(
        False,
        "--watch",
        "-w",
        help="Keep showing it: redrawn on a terminal, a snapshot per change otherwise.",
    ),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between looks with --watch."),
) -> None:
    """Show every site and the rollouts under way, or one SITE in detail.

    Needs a read token (--token-file, AIEDGE_TOKEN or the context's). -o json|yaml prints the
    list of SiteSummary (with --rollouts: of rollouts; with SITE: the site and its metrics)."""
    if rollouts and site:
        raise AiedgeError("--rollouts shows the rollouts of the whole fleet: leave out SITE")
    fmt = choose(output, as_json)
    hub = connect(hub_url, ca, token_file, context)
    wide = fmt == "wide"

    def data() -> Any:
        if rollouts:
            return fetch_rollouts(hub)
        if site:
            return site_detail(hub, site)
        return [s.model_dump(mode="json") for s in fetch_sites(hub)]

    def draw() -> RenderableType:
        if site:
            return _with_banner(hub, site_view(site_detail(hub, site), wide))
        if rollouts:
            return _with_banner(hub, rollouts_table(hub.url, fetch_rollouts(hub), wide))
        found = fetch_rollouts(hub)
        fleet = fleet_table(hub.url, fetch_sites(hub), wide)
        return _with_banner(hub, Group(fleet, rollouts_table(hub.url, found, wide)) if found else fleet)

    console = Console()
    if watch:
        follow(draw, data, fmt, interval, console)
    elif fmt in ("json", "yaml"):
        emit(data(), fmt)
    else:
        console.print(draw())
