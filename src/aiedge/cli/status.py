"""`aiedge status --hub URL`: the fleet as a table (site, status, last seen, revision, app
digests, health), or ``--json`` for the list of SiteSummary."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aiedge.contracts import SiteSummary
from aiedge.errors import AiedgeError

_STYLE = {"healthy": "green", "progressing": "yellow", "degraded": "red", "unknown": "magenta"}


def _age(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "never"
    s = max(0, int((now - t).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def _short(revision: str | None) -> str:
    if not revision:
        return "-"
    head, _, sha = revision.rpartition(":")
    return f"{head}:{sha[:12]}" if head else revision[:19]


def fetch_sites(hub: str, token: str | None = None) -> list[SiteSummary]:
    url = hub.rstrip("/") + "/api/v1/sites"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(url, timeout=10, headers=headers)
    except httpx.HTTPError as e:
        raise AiedgeError(f"cannot reach the hub at {hub}: {e}") from e
    if r.status_code != 200:
        raise AiedgeError(f"the hub at {hub} answered {r.status_code}: {r.text.strip()[:200]}")
    try:
        return TypeAdapter(list[SiteSummary]).validate_json(r.content)
    except ValidationError as e:
        raise AiedgeError(f"the hub at {hub} sent an unexpected answer: {e.errors()[0]['msg']}") from e


def status_command(
    hub: str = typer.Option(..., "--hub", help="The hub's URL, e.g. http://127.0.0.1:8000"),
    as_json: bool = typer.Option(False, "--json", help="Print the list of SiteSummary as JSON."),
) -> None:
    """Show every site: status, last seen, revision, what runs there."""
    sites = fetch_sites(hub)
    if as_json:
        typer.echo(orjson.dumps([s.model_dump(mode="json") for s in sites]).decode())
        return
    now = datetime.now(UTC)
    table = Table(title=f"sites at {hub}")
    for col in ("site", "status", "last seen", "revision", "apps", "health"):
        table.add_column(col)
    for s in sites:
        style = _STYLE.get(s.status.value, "")
        apps = "\n".join(f"{a.name} {(a.digest or '-')[:19]}" for a in s.apps) or "-"
        health = "\n".join(a.health.value for a in s.apps) or "-"
        if s.last_error:
            health += f"\n[red]{escape(s.last_error)}[/red]"
        table.add_row(
            s.name,
            f"[{style}]{s.status.value}[/{style}]" if style else s.status.value,
            _age(s.last_seen, now),
            _short(s.observed_revision or s.desired_revision),
            apps,
            health,
        )
    Console().print(table)
