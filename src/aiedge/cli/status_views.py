"""How ``aiedge status`` and ``aiedge rollout status`` draw what the hub says: the fleet table,
one site in detail, the rollouts table, the banner over them; ``wide`` adds columns (labels, full
digests, URLs). Sizes in IEC units. Drawing only: fetching lives in ``cli/status.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table

from aiedge.cli.link_view import link_text
from aiedge.cli.progress import iec
from aiedge.contracts import AppStatus, SiteFacts, SiteSummary

_STYLE = {"healthy": "green", "progressing": "yellow", "degraded": "red", "unknown": "magenta"}
_ROLLOUT_STYLE = {"progressing": "yellow", "soaking": "cyan", "stopped": "red", "complete": "green"}
_BANNER_WHAT = {
    "held": "is held: it would remove apps from sites",
    "invalid": "is invalid",
    "unreadable": "cannot be read",
}


def age(t: datetime | None, now: datetime) -> str:
    if t is None:
        return "never"
    s = max(0, int((now - t).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit} ago"
    return f"{s}s ago"


def short(revision: str | None) -> str:
    if not revision:
        return "-"
    head, _, sha = revision.rpartition(":")
    return f"{head}:{sha[:12]}" if head else revision[:19]


def banner_text(b: dict[str, Any]) -> str:
    """The banner as rich markup: what is wrong with HEAD, where, and what is still served."""
    what = _BANNER_WHAT.get(b["kind"], b["kind"])
    lines = [
        f"[bold red]GitOps revision {escape(short(b.get('revision')))} {what}; "
        f"still serving {escape(short(b.get('serving')))}[/bold red]"
    ]
    problems = b.get("problems") or [{"message": b.get("message", "")}]
    for p in problems[:5]:
        at = f"{p['file']}:{p['line']}:{p['col']}: " if p.get("file") else ""
        text = p["message"] if p["message"].startswith(at) else at + p["message"]
        lines.append(f"[red]  {escape(text)}[/red]")
    return "\n".join(lines)


def progress_text(a: AppStatus) -> str:
    """A download under way: bytes done of total (share), rate and time left; "" when none."""
    p = a.progress
    if p is None:
        return ""
    total = "?" if p.total_bytes is None else iec(p.total_bytes)
    text = f"downloading {iec(p.done_bytes)} / {total}"
    if p.total_bytes:
        text += f" ({min(100, int(100 * p.done_bytes / p.total_bytes))}%)"
    if p.rate_bps is not None:
        text += f", {iec(p.rate_bps)}/s"
    if p.eta_seconds is not None:
        text += f", ETA {int(p.eta_seconds)}s"
    return text


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"


def facts_rows(f: SiteFacts | None) -> list[tuple[str, str]]:
    """What the site reported it has, as (name, text) rows."""
    if f is None:
        return [("facts", "not reported yet (an agent older than site facts, or not reported since)")]

    def listed(items: list[str]) -> str:
        return ", ".join(items) or "none"

    rows = [
        ("platform", f"{f.os}/{f.arch}, {f.cpus} CPUs, {iec(f.memory_bytes)} memory"),
        ("free disk", f"{iec(f.disk_free_bytes)} (the agent's data folder)"),
        ("accelerators", listed(f.accelerators)),
        ("runtimes", f"OpenVINO: {listed(f.openvino_devices)}; ONNX Runtime: {listed(f.onnx_providers)}"),
    ]
    if f.dri or f.nvidia:
        rows.append(
            ("devices", listed([*(f"/dev/dri/{d}" for d in f.dri), *(f"/dev/{n}" for n in f.nvidia)]))
        )
    rows.append(("aiedge", f.aiedge_version or "?"))
    return rows


def site_view(detail: dict[str, Any], wide: bool = False) -> RenderableType:
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
    head.add_row("last seen", age(s.last_seen, now))
    for key, value in facts_rows(s.facts):
        head.add_row(key, escape(value))
    head.add_row("revision", f"{short(s.observed_revision)} (desired {short(s.desired_revision)})")
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
        if a.device:
            condition += f"\non {escape(a.device)}"
        if a.warning:
            condition += f"\n[yellow]{escape(a.warning)}[/yellow]"
        digest = a.digest or "-"
        apps.add_row(a.name, digest if wide else digest[:19], a.health.value, a.url or "-", condition)
    recent = Table(title="last 5 minutes (req/s: 5-minute average)")
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


def fleet_table(hub: str, sites: list[SiteSummary], wide: bool = False) -> Table:
    now = datetime.now(UTC)
    table = Table(title=f"sites at {hub}")
    columns = ["site", "status", "last seen", "revision", "apps", "health"]
    for col in [*columns, *(["labels", "urls"] if wide else [])]:
        table.add_column(col)
    for s in sites:
        style = _STYLE.get(s.status.value, "")
        digests = {a.name: a.digest or "-" for a in s.apps}
        apps = "\n".join(f"{n} {d if wide else d[:19]}" for n, d in digests.items()) or "-"
        health = (
            "\n".join(
                a.health.value + (f" [cyan]{progress_text(a)}[/cyan]" if a.progress else "") for a in s.apps
            )
            or "-"
        )
        if s.last_error:
            health += f"\n[red]{escape(s.last_error)}[/red]"
        row = [
            s.name,
            f"[{style}]{s.status.value}[/{style}]" if style else s.status.value,
            age(s.last_seen, now),
            short(s.observed_revision or s.desired_revision),
            apps,
            health,
        ]
        if wide:
            row.append(escape(", ".join(f"{k}={v}" for k, v in s.labels.items()) or "-"))
            row.append("\n".join(a.url or "-" for a in s.apps) or "-")
        table.add_row(*row)
    return table


def rollouts_table(hub: str, rollouts: list[dict[str, Any]], wide: bool = False) -> Table:
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
            r["to_digest"] if wide else r["to_digest"][:19],
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
