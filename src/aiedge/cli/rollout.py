"""`aiedge rollout status|pause|resume|abort|retry APP --hub URL`: an app's rollouts, and what an
operator can do to them through the hub's API (``POST /api/v1/rollouts/APP/ACTION``). ``status``
needs a read token, the others an admin token (``--token-file`` or ``AIEDGE_TOKEN``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console

from aiedge.cli.credentials import TOKEN_FILE, call, load_token
from aiedge.cli.status import fetch_rollouts, rollouts_table
from aiedge.errors import AiedgeError

app = typer.Typer(
    help="See and steer an app's rollout: status, pause, resume, abort, retry.", no_args_is_help=True
)

_HUB = typer.Option(..., "--hub", help="The hub's URL, e.g. http://127.0.0.1:8000")
_PLACEMENT = typer.Option(
    None, "--placement", help="Only the rollout of this placement (default: every one)."
)
_JSON = typer.Option(False, "--json", help="Print the hub's answer as JSON.")


def _post(hub: str, path: str, params: dict[str, str], token: str | None) -> dict[str, Any]:
    r = call("POST", hub, path, token, timeout=30, params=params)
    if r.status_code != 200:
        try:
            why = r.json()["error"]
        except (ValueError, KeyError, TypeError):
            why = r.text.strip()[:200]
        raise AiedgeError(why)
    body: dict[str, Any] = r.json()
    return body


def _act(action: str, name: str, hub: str, placement: str | None, as_json: bool, token: str | None) -> None:
    params = {"placement": placement} if placement else {}
    body = _post(hub, f"/api/v1/rollouts/{name}/{action}", params, token)
    if as_json:
        typer.echo(orjson.dumps(body).decode())
        return
    for line in body["done"]:
        typer.echo(line)


@app.command("status")
def status(
    name: str = typer.Argument(..., metavar="APP", help="The app."),
    hub: str = _HUB,
    placement: str | None = _PLACEMENT,
    as_json: bool = _JSON,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Show APP's rollouts: target digest, wave, sites done/failed/updating/pending, state."""
    found = [
        r
        for r in fetch_rollouts(hub, load_token(token_file))
        if r["app"] == name and (placement is None or r["placement"] == placement)
    ]
    if not found:
        raise AiedgeError(f"no rollout of app {name!r} at {hub}")
    if as_json:
        typer.echo(orjson.dumps(found).decode())
        return
    Console().print(rollouts_table(hub, found))


_ACTIONS = {
    "pause": "Start no new wave of APP's rollout (sites already reached go on).",
    "resume": "Let APP's paused rollout go on.",
    "abort": "End APP's rollout: every site goes back to what it ran before it.",
    "retry": "Let APP's stopped or aborted rollout go on: its failed sites try again.",
}


def _command(action: str) -> Callable[..., None]:
    def command(
        name: str = typer.Argument(..., metavar="APP", help="The app."),
        hub: str = _HUB,
        placement: str | None = _PLACEMENT,
        as_json: bool = _JSON,
        token_file: Path | None = TOKEN_FILE,
    ) -> None:
        _act(action, name, hub, placement, as_json, load_token(token_file))

    command.__doc__ = _ACTIONS[action]
    return command


for _action in _ACTIONS:
    app.command(_action)(_command(_action))
