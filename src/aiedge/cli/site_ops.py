"""`aiedge logs SITE [APP]` and `aiedge diagnose SITE`: read a site's logs and state through the
hub, over the site's own outbound connection (nothing listens at the site). The hub queues the
request; the site's agent answers within a second or two when connected, else when it next
reaches the hub."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer

from aiedge.cli.credentials import CA, CONTEXT, HUB, TOKEN_FILE, Hub, connect
from aiedge.cli.output import JSON
from aiedge.errors import AiedgeError

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h|d)?\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def _seconds(text: str, flag: str) -> float:
    m = _DURATION.match(text)
    if m is None:
        raise AiedgeError(f"{flag}: {text!r} is not a duration (e.g. 90s, 10m, 2h)")
    return float(m.group(1)) * _UNIT[m.group(2)]


def _ask(hub: Hub, site: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Queue ``spec`` for ``site`` and wait for the answer (at most ``timeout`` seconds)."""
    base = f"/api/v1/sites/{site}/requests"
    r = hub.request("POST", base, json=spec)
    _check(r, hub)
    request_id = r.json()["id"]
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        wait = max(0.0, min(left, 25.0))
        r = hub.request("GET", f"{base}/{request_id}", timeout=wait + 15, params={"wait": f"{wait:.1f}"})
        _check(r, hub)
        view = r.json()
        if view.get("answer") is not None:
            return dict(view["answer"])
        if left <= 0:
            raise AiedgeError(
                f"site {site} did not answer within {timeout:g}s (request {request_id} is "
                f"{view.get('state')}); it answers when it next reaches the hub: "
                f"see `aiedge status {site}`"
            )


def _check(r: httpx.Response, hub: Hub) -> None:
    if r.status_code < 400:
        return
    try:
        why = r.json().get("error", r.text)
    except ValueError:
        why = r.text
    raise AiedgeError(f"hub {hub}: {why.strip()[:300]} ({r.status_code})")


def logs_command(
    site: str = typer.Argument(..., help="The site."),
    app: str | None = typer.Argument(None, help="An app's model-server log (default: the agent's own)."),
    hub_url: str | None = HUB,
    ca: Path | None = CA,
    context: str | None = CONTEXT,
    since: str | None = typer.Option(
        None, "--since", metavar="DURATION", help="Only lines of the last 90s, 10m, 2h."
    ),
    lines: int = typer.Option(
        200, "--lines", "-n", min=1, max=2000, help="At most this many (newest) lines."
    ),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep asking for new lines until Ctrl-C."),
    interval: float = typer.Option(2.0, "--interval", min=0.5, help="Seconds between asks with --follow."),
    timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for the site's answer."),
    token_file: Path | None = TOKEN_FILE,
    as_json: bool = JSON,
) -> None:
    """Print the tail of a site's agent log (or of one app's model server), fetched through the
    hub over the site's own connection. Lines are bounded and redacted at the site (credentials,
    tokens, keys and secrets never leave it)."""
    hub = connect(hub_url, ca, token_file, context)
    spec: dict[str, Any] = {"kind": "logs", "app": app, "lines": lines}
    if since is not None:
        spec["since"] = _seconds(since, "--since")
    seen: list[str] = []
    while True:
        asked = time.time()
        answer = _ask(hub, site, spec, timeout)
        if answer.get("error"):
            raise AiedgeError(f"site {site}: {answer['error']}")
        fresh = [line for line in answer.get("lines", []) if line not in seen]
        if as_json:
            typer.echo(orjson.dumps({**answer, "lines": fresh}).decode())
        else:
            if answer.get("truncated") and not seen:
                typer.echo(f"(older lines left out: the newest {lines} are shown)", err=True)
            for line in fresh:
                typer.echo(line)
        if not follow:
            return
        seen = (seen + fresh)[-5000:]
        time.sleep(interval)
        spec["since"] = max(1.0, time.time() - asked + 1.0)  # a second of overlap; repeats are dropped


def diagnose_command(
    site: str = typer.Argument(..., help="The site."),
    hub_url: str | None = HUB,
    ca: Path | None = CA,
    context: str | None = CONTEXT,
    timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for the site's answer."),
    token_file: Path | None = TOKEN_FILE,
    as_json: bool = JSON,
) -> None:
    """Ask a site's agent, through the hub, for its state, the host's facts, its last errors and
    its cache and disk usage (redacted at the site)."""
    answer = _ask(connect(hub_url, ca, token_file, context), site, {"kind": "diagnose"}, timeout)
    if answer.get("error"):
        raise AiedgeError(f"site {site}: {answer['error']}")
    diagnosis = answer.get("diagnosis") or {}
    if as_json:
        typer.echo(orjson.dumps(diagnosis).decode())
        return
    state, cache, facts = diagnosis.get("state", {}), diagnosis.get("cache", {}), diagnosis.get("facts", {})
    typer.echo(f"site {diagnosis.get('site')} at {diagnosis.get('time')}: revision {state.get('revision')}")
    for a in state.get("apps", []):
        typer.echo(f"  {a['name']}: {a['reason']}: serving {a['serving']}, previous {a['previous']}")
    for e in diagnosis.get("last_errors", []):
        typer.echo(f"  error: {e}")
    if diagnosis.get("hub_error"):
        typer.echo(f"  hub: {diagnosis['hub_error']}")
    if diagnosis.get("hold"):
        typer.echo(f"  held: {diagnosis['hold']['reason']} (since {diagnosis['hold']['since']})")
    typer.echo(
        f"  cache: {cache.get('bytes', 0):,} bytes (max {cache.get('cache_max')}, min free "
        f"{cache.get('min_free')}); disk {cache.get('disk_free', 0):,} of "
        f"{cache.get('disk_total', 0):,} bytes free"
    )
    typer.echo(
        f"  host: {facts.get('hostname')} {facts.get('arch')}, {facts.get('cpus')} CPUs, "
        f"{facts.get('memory_bytes')} bytes of memory, Python {facts.get('python')}"
    )
