"""`aiedge status --hub URL`: the fleet as a table (site, status, last seen, revision, app
digests, health), or ``--json`` for the list of SiteSummary; ``--watch`` redraws it every 2 s;
`aiedge status SITE` shows one site: its apps, digests, health, last error and recent metrics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console, Group, RenderableType
from rich.live import Live
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


def _get(hub: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        r = httpx.get(hub.rstrip("/") + path, timeout=10, headers=headers)
    except httpx.HTTPError as e:
        raise AiedgeError(f"cannot reach the hub at {hub}: {e}") from e
    if r.status_code == 404 and path.startswith("/api/v1/sites/"):
        raise AiedgeError(f"the hub at {hub} knows no site {path.split('/')[4]!r}")
    if r.status_code != 200:
        raise AiedgeError(f"the hub at {hub} answered {r.status_code}: {r.text.strip()[:200]}")
    return r


def fetch_sites(hub: str, token: str | None = None) -> list[SiteSummary]:
    r = _get(hub, "/api/v1/sites", token)
    try:
        return TypeAdapter(list[SiteSummary]).validate_json(r.content)
    except ValidationError as e:
        raise AiedgeError(f"the hub at {hub} sent an unexpected answer: {e.errors()[0]['msg']}") from e


def status_command(
    site: str | None = typer.Argument(None, help="Show this one site in detail."),
    hub: str = typer.Option(..., "--hub", help="The hub's URL, e.g. http://127.0.0.1:8000"),
    as_json: bool = typer.Option(False, "--json", help="Print the list of SiteSummary as JSON."),
    watch: bool = typer.Option(False, "--watch", help="Redraw every 2 s until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between redraws with --watch."),
) -> None:
    """Show every site (status, last seen, revision, what runs there), or one SITE in detail."""
    if as_json:
        body: Any = _site_detail(hub, site) if site else [s.model_dump(mode="json") for s in fetch_sites(hub)]
        typer.echo(orjson.dumps(body).decode())
        return

    def draw() -> RenderableType:
        return _site_view(hub, site) if site else _fleet_table(hub)

    console = Console()
    if not watch:
        console.print(draw())
        return
    try:
        with Live(draw(), console=console, auto_refresh=False, screen=False) as live:
            while True:
                time.sleep(interval)
                try:
                    live.update(draw(), refresh=True)
                except AiedgeError as e:  # keep watching through a hub restart
                    live.update(f"[red]{escape(str(e))}[/red] (retrying)", refresh=True)
    except KeyboardInterrupt:
        return


def _site_detail(hub: str, site: str) -> dict[str, Any]:
    summary = _get(hub, f"/api/v1/sites/{site}").json()
    metrics = _get(hub, f"/api/v1/sites/{site}/metrics?range=15m").json()
    return {"site": summary, "metrics": metrics}


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"


def _site_view(hub: str, name: str) -> RenderableType:
    detail = _site_detail(hub, name)
    s = SiteSummary.model_validate(detail["site"])
    now = datetime.now(UTC)
    style = _STYLE.get(s.status.value, "")
    status = f"[{style}]{s.status.value}[/{style}]" if style else s.status.value
    if s.status.value == "unknown" and s.last_seen:
        status += f" since {s.last_seen.isoformat(timespec='seconds')}"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("site", escape(s.name))
    head.add_row("status", status)
    head.add_row("labels", escape(", ".join(f"{k}={v}" for k, v in s.labels.items()) or "-"))
    head.add_row("last seen", _age(s.last_seen, now))
    head.add_row("revision", f"{_short(s.observed_revision)} (desired {_short(s.desired_revision)})")
    if s.last_error:
        head.add_row("last error", f"[red]{escape(s.last_error)}[/red]")
    apps = Table(title="apps")
    for col in ("app", "digest", "health", "url", "condition"):
        apps.add_column(col)
    for a in s.apps:
        apps.add_row(a.name, a.digest or "-", a.health.value, a.url or "-", escape(a.message))
    recent = Table(title="last 5 minutes")
    for col in ("app", "req/s", "p50", "p99", "errors"):
        recent.add_column(col, justify="left" if col == "app" else "right")
    for series in detail["metrics"]["apps"]:
        points = series["points"][-5:]
        req = sum(p["requests"] for p in points)
        err = sum(p["errors"] for p in points)
        p50 = max((p["p50_ms"] for p in points if p["p50_ms"] is not None), default=None)
        p99 = max((p["p99_ms"] for p in points if p["p99_ms"] is not None), default=None)
        recent.add_row(
            series["app"],
            f"{req / (60 * max(1, len(points))):.2f}",
            _fmt_ms(p50),
            _fmt_ms(p99),
            f"{(err / req if req else 0):.1%}",
        )
    if not detail["metrics"]["apps"]:
        recent.add_row("-", "no metrics yet", "", "", "")
    return Group(head, apps, recent)


def _fleet_table(hub: str) -> Table:
    sites = fetch_sites(hub)
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
    return table
