"""`aiedge rollout status|pause|resume|abort|retry APP`: an app's rollouts, and what an operator
can do to them through the hub's API (``POST /api/v1/rollouts/APP/ACTION``, the same the
dashboard's buttons call). ``status`` needs a read token, the others an admin token
(``--token-file``, ``AIEDGE_TOKEN`` or the context's); the hub comes from ``--hub``,
``AIEDGE_HUB`` or a context."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from aiedge.cli.credentials import CA, CONTEXT, HUB, TOKEN_FILE, Hub, connect
from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.cli.status import fetch_rollouts
from aiedge.cli.status_views import rollouts_table
from aiedge.errors import AiedgeError

app = typer.Typer(
    help="See and steer an app's rollout: status, pause, resume, abort, retry.", no_args_is_help=True
)

_PLACEMENT = typer.Option(
    None, "--placement", help="Only the rollout of this placement (default: every one)."
)


def _post(hub: Hub, path: str, params: dict[str, str]) -> dict[str, Any]:
    r = hub.request("POST", path, timeout=30, params=params)
    if r.status_code != 200:
        try:
            why = r.json()["error"]
        except (ValueError, KeyError, TypeError):
            why = r.text.strip()[:200]
        raise AiedgeError(why)
    body: dict[str, Any] = r.json()
    return body


@app.command("status")
def status(
    name: str = typer.Argument(..., metavar="APP", help="The app."),
    placement: str | None = _PLACEMENT,
    hub_url: str | None = HUB,
    ca: Path | None = CA,
    context: str | None = CONTEXT,
    token_file: Path | None = TOKEN_FILE,
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
) -> None:
    """Show APP's rollouts: target digest, wave, sites done/failed/updating/pending, state."""
    fmt = choose(output, as_json)
    hub = connect(hub_url, ca, token_file, context)
    found = [
        r
        for r in fetch_rollouts(hub)
        if r["app"] == name and (placement is None or r["placement"] == placement)
    ]
    if not found:
        raise AiedgeError(f"no rollout of app {name!r} at {hub}")
    if fmt in ("json", "yaml"):
        emit(found, fmt)
        return
    Console().print(rollouts_table(hub.url, found, fmt == "wide"))


_ACTIONS = {
    "pause": "Start no new wave of APP's rollout (sites already reached go on).",
    "resume": "Let APP's paused rollout go on.",
    "abort": "End APP's rollout: every site goes back to what it ran before it.",
    "retry": "Let APP's stopped or aborted rollout go on: its failed sites try again.",
}


def _command(action: str) -> Callable[..., None]:
    def command(
        name: str = typer.Argument(..., metavar="APP", help="The app."),
        placement: str | None = _PLACEMENT,
        hub_url: str | None = HUB,
        ca: Path | None = CA,
        context: str | None = CONTEXT,
        token_file: Path | None = TOKEN_FILE,
        output: Format | None = OUTPUT,
        as_json: bool = JSON,
    ) -> None:
        fmt = choose(output, as_json)
        hub = connect(hub_url, ca, token_file, context)
        params = {"placement": placement} if placement else {}
        body = _post(hub, f"/api/v1/rollouts/{name}/{action}", params)
        if fmt in ("json", "yaml"):
            emit(body, fmt)
            return
        for line in body["done"]:
            typer.echo(line)

    command.__doc__ = _ACTIONS[action]
    return command


for _action in _ACTIONS:
    app.command(_action)(_command(_action))
