"""`aiedge status --hub URL`: the fleet as a table (site, status, last seen, revision, app
digests, health, downloads under way) and, below it, the rollouts (one line per app being rolled
out: target digest, wave, sites done/failed/updating/pending, state), or ``--json`` for the list
of SiteSummary; ``--rollouts`` shows only the rollouts (``--json``: their list); ``--watch``
redraws every 2 s; `aiedge status SITE` shows one site: its apps, digests, health, downloads,
last error and recent metrics (server errors and rejected requests apart). Above any of them, a
banner when the GitOps repo's HEAD is not what the hub serves (invalid, or held), with
file:line:col and the revision still served."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from aiedge.cli.credentials import TOKEN_FILE, call, load_token
from aiedge.contracts import AppStatus, LinkUsage, SiteSummary
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
    r = call("GET", hub, path, token)
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


def fetch_rollouts(hub: str, token: str | None = None) -> list[dict[str, Any]]:
    """The newest rollout of each placement's app (superseded ones left out), newest first."""
    body = _get(hub, "/api/v1/rollouts", token).json()
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


def fetch_banner(hub: str) -> dict[str, Any] | None:
    """Why the hub does not serve the repo's HEAD (``/api/v1/health``), or None."""
    banner = _get(hub, "/api/v1/health").json().get("banner")
    return banner if isinstance(banner, dict) else None


_BANNER_WHAT = {
    "held": "is held: it would remove apps from sites",
    "invalid": "is invalid",
    "unreadable": "cannot be read",
}


def banner_text(b: dict[str, Any]) -> str:
    """The banner as rich markup: what is wrong with HEAD, where, and what is still served."""
    what = _BANNER_WHAT.get(b["kind"], b["kind"])
    lines = [
        f"[bold red]GitOps revision {escape(_short(b.get('revision')))} {what}; "
        f"still serving {escape(_short(b.get('serving')))}[/bold red]"
    ]
    problems = b.get("problems") or [{"message": b.get("message", "")}]
    for p in problems[:5]:
        at = f"{p['file']}:{p['line']}:{p['col']}: " if p.get("file") else ""
        text = p["message"] if p["message"].startswith(at) else at + p["message"]
        lines.append(f"[red]  {escape(text)}[/red]")
    return "\n".join(lines)


def _bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def link_text(link: LinkUsage) -> str:
    """The bytes per day a site reported for its link (today last), against its budget."""
    days = ", ".join(f"{d.day:%m-%d} {_bytes(d.total)}" for d in link.days) or "nothing counted yet"
    budget = (
        f"; budget {_bytes(link.budget)}/day{'' if link.metered else ' (counted)'}" if link.budget else ""
    )
    spent = " (today's is spent)" if link.spent else ""
    deferred = "".join(f"; deferred: {d}" for d in link.deferred)
    return f"{days}{budget}{spent}{deferred}"


def progress_text(a: AppStatus) -> str:
    """A download under way: bytes done of total (share), rate and time left; "" when none."""
    p = a.progress
    if p is None:
        return ""
    text = f"downloading {_bytes(p.done_bytes)} / {_bytes(p.total_bytes)}"
    if p.total_bytes:
        text += f" ({min(100, int(100 * p.done_bytes / p.total_bytes))}%)"
    if p.rate_bps is not None:
        text += f", {_bytes(p.rate_bps)}/s"
    if p.eta_seconds is not None:
        text += f", ETA {int(p.eta_seconds)}s"
    return text


def _with_banner(hub: str, view: RenderableType) -> RenderableType:
    b = fetch_banner(hub)
    return Group(banner_text(b), view) if b else view


def status_command(
    site: str | None = typer.Argument(None, help="Show this one site in detail."),
    hub: str = typer.Option(..., "--hub", help="The hub's URL, e.g. http://127.0.0.1:8000"),
    as_json: bool = typer.Option(
        False, "--json", help="Print the list of SiteSummary (with --rollouts: of rollouts) as JSON."
    ),
    rollouts: bool = typer.Option(
        False, "--rollouts", help="Show only the rollouts: per app, target digest, wave, sites, state."
    ),
    watch: bool = typer.Option(False, "--watch", help="Redraw every 2 s until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", help="Seconds between redraws with --watch."),
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Show every site (status, last seen, revision, what runs there) and the rollouts under way,
    or one SITE in detail. Needs a read token (--token-file or AIEDGE_TOKEN)."""
    if rollouts and site:
        raise AiedgeError("--rollouts shows the rollouts of the whole fleet: leave out SITE")
    token = load_token(token_file)
    if as_json:
        body: Any
        if rollouts:
            body = fetch_rollouts(hub, token)
        elif site:
            body = _site_detail(hub, site, token)
        else:
            body = [s.model_dump(mode="json") for s in fetch_sites(hub, token)]
        typer.echo(orjson.dumps(body).decode())
        return

    def draw() -> RenderableType:
        if site:
            return _with_banner(hub, _site_view(hub, site, token))
        if rollouts:
            return _with_banner(hub, rollouts_table(hub, fetch_rollouts(hub, token)))
        found = fetch_rollouts(hub, token)
        fleet = _fleet_table(hub, token)
        return _with_banner(hub, Group(fleet, rollouts_table(hub, found)) if found else fleet)

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


def _site_detail(hub: str, site: str, token: str | None = None) -> dict[str, Any]:
    summary = _get(hub, f"/api/v1/sites/{site}", token).json()
    metrics = _get(hub, f"/api/v1/sites/{site}/metrics?range=15m", token).json()
    return {"site": summary, "metrics": metrics}


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"


def _site_view(hub: str, name: str, token: str | None = None) -> RenderableType:
    detail = _site_detail(hub, name, token)
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
    if s.age_recipient or s.declared_age_recipient:
        recipient = escape(s.age_recipient or "not reported")
        if s.declared_age_recipient and s.declared_age_recipient != s.age_recipient:
            recipient += (
                f" [red](its Site in Git has {escape(s.declared_age_recipient)}: "
                "secrets encrypted to that will not decrypt here)[/red]"
            )
        head.add_row("age recipient", recipient)
    if s.last_error:
        head.add_row("last error", f"[red]{escape(s.last_error)}[/red]")
    if s.link is not None:
        head.add_row("link", escape(link_text(s.link)))
    apps = Table(title="apps")
    for col in ("app", "digest", "health", "url", "condition"):
        apps.add_column(col)
    for a in s.apps:
        condition = escape(a.message) + (f"\n[cyan]{progress_text(a)}[/cyan]" if a.progress else "")
        apps.add_row(a.name, a.digest or "-", a.health.value, a.url or "-", condition)
    recent = Table(title="last 5 minutes")
    for col in ("app", "req/s", "p50", "p99", "errors (5xx)", "rejected (4xx)"):
        recent.add_column(col, justify="left" if col == "app" else "right")
    for series in detail["metrics"]["apps"]:
        points = series["points"][-5:]
        req = sum(p["requests"] for p in points)
        err = sum(p["errors"] for p in points)
        rejected = sum(p.get("rejected", 0) for p in points)
        p50 = max((p["p50_ms"] for p in points if p["p50_ms"] is not None), default=None)
        p99 = max((p["p99_ms"] for p in points if p["p99_ms"] is not None), default=None)
        recent.add_row(
            series["app"],
            f"{req / (60 * max(1, len(points))):.2f}",
            _fmt_ms(p50),
            _fmt_ms(p99),
            f"{(err / req if req else 0):.1%}",
            f"{(rejected / req if req else 0):.1%}",
        )
    if not detail["metrics"]["apps"]:
        recent.add_row("-", "no metrics yet", "", "", "", "")
    return Group(head, apps, recent)


def _fleet_table(hub: str, token: str | None = None) -> Table:
    sites = fetch_sites(hub, token)
    now = datetime.now(UTC)
    table = Table(title=f"sites at {hub}")
    for col in ("site", "status", "last seen", "revision", "apps", "health"):
        table.add_column(col)
    for s in sites:
        style = _STYLE.get(s.status.value, "")
        apps = "\n".join(f"{a.name} {(a.digest or '-')[:19]}" for a in s.apps) or "-"
        health = (
            "\n".join(
                a.health.value + (f" [cyan]{progress_text(a)}[/cyan]" if a.progress else "") for a in s.apps
            )
            or "-"
        )
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


_ROLLOUT_STYLE = {"progressing": "yellow", "soaking": "cyan", "stopped": "red", "complete": "green"}


def rollouts_table(hub: str, rollouts: list[dict[str, Any]]) -> Table:
    now = datetime.now(UTC)
    table = Table(title=f"rollouts at {hub}")
    for col in ("app", "placement", "target digest", "wave", "sites", "state"):
        table.add_column(col)
    for r in rollouts:
        c = r["counts"]
        sites = f"{c['done']} done, {c['failed']} failed, {c['updating']} updating, {c['pending']} pending"
        if c.get("skipped"):
            sites += f", {c['skipped']} skipped"
        table.add_row(
            r["app"],
            r["placement"],
            r["to_digest"][:19],
            f"{r['wave']}/{r['total_waves']}",
            sites,
            _rollout_state(r, now),
        )
    if not rollouts:
        table.add_row("-", "-", "-", "-", "-", "no rollouts yet")
    return table


def _rollout_state(r: dict[str, Any], now: datetime) -> str:
    phase: str = r["phase"]
    text = phase
    if phase == "soaking" and r.get("soak_until"):
        until = datetime.fromisoformat(r["soak_until"])
        left = max(0, int((until - now).total_seconds()))
        text = f"soaking until {until.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%SZ')} ({left}s left)"
    elif phase == "stopped":
        budget = r.get("failure_budget", r["maxFailures"])
        shown = f"{budget} = {r['maxFailures']}" if isinstance(r["maxFailures"], str) else str(budget)
        failed = [(n, p) for n, p in r["sites"].items() if p["state"] == "failed"]
        back = {p.get("from_digest") or r["from_digest"] for _, p in failed} or {r["from_digest"]}
        text = (
            f"stopped: {r['failures']} failed (max {shown}); failed sites back on "
            f"{', '.join(sorted(d[:19] for d in back))}; `aiedge rollout retry {r['app']}` or a new commit"
        )
        if failed:  # why, from the first site that failed
            name, p = failed[0]
            text += f"\n{name}: {p['message'][:120]}"
    elif phase == "paused":
        text = f"paused ({'in Git' if r.get('paused_by') == 'git' else 'by an operator'})"
    elif phase == "aborted":
        text = "aborted: every site back on what it ran before"
    style = _ROLLOUT_STYLE.get(phase)
    return f"[{style}]{escape(text)}[/{style}]" if style else escape(text)
