"""Site-local operations on a running (or stopped) agent's data folder, with no hub needed:
`aiedge agent hold` / `aiedge agent release` defer or allow switches to new versions."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from aiedge.agent.holds import hold_path, read_hold, release_hold, write_hold
from aiedge.agent.settings import AgentSettings
from aiedge.errors import AiedgeError

_DATA_HELP = "The agent's data folder, as given to the agent (default: AIEDGE_AGENT_DATA or ./aiedge-agent)."


def _data(data: Path | None) -> Path:
    return data if data is not None else AgentSettings().data


def hold_command(
    reason: str = typer.Option(..., "--reason", help="Why switches wait, shown at the hub (one line)."),
    data: Path | None = typer.Option(None, "--data", "-d", metavar="DIR", help=_DATA_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the hold as JSON."),
) -> None:
    """Defer every switch to a new version at this site (what serves keeps serving) until
    `aiedge agent release`. The site reports its apps as Deferred with the reason. A
    line-of-business system can do the same by writing the reason to DATA/hold."""
    if not reason.strip():
        raise AiedgeError("--reason: give a reason, e.g. --reason 'night shift: no changes'")
    folder = _data(data)
    if folder.exists() and not folder.is_dir():
        raise AiedgeError(f"--data {folder}: a file, not the agent's data folder")
    hold = write_hold(folder, reason)
    if json_out:
        typer.echo(json.dumps({"held": True, "reason": hold.reason, "since": hold.since.isoformat()}))
    else:
        typer.echo(f"held: {hold.reason} ({hold_path(folder)}); `aiedge agent release` ends it")


def release_command(
    data: Path | None = typer.Option(None, "--data", "-d", metavar="DIR", help=_DATA_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """End the site-local hold: deferred versions switch on the agent's next pass (within its
    poll interval), inside their maintenance windows if they have any."""
    folder = _data(data)
    before = read_hold(folder)
    released = release_hold(folder)
    if json_out:
        typer.echo(json.dumps({"released": released, "reason": before.reason if before else None}))
    elif released:
        typer.echo(f"released (was: {before.reason if before else '?'})")
    else:
        typer.echo(f"no hold at {hold_path(folder)}")
