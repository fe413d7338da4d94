"""Site-local operations on a running (or stopped) agent's data folder, with no hub needed:
`aiedge agent hold` / `aiedge agent release` defer or allow switches to new versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def import_command(
    bundle: Path = typer.Argument(..., metavar="FILE", help="The bundle from `aiedge bundle export`."),
    data: Path | None = typer.Option(None, "--data", "-d", metavar="DIR", help=_DATA_HELP),
    site: str | None = typer.Option(
        None, "--site", "-s", help="This site's name (default: AIEDGE_AGENT_SITE or the hostname)."
    ),
    hub_key: Path | None = typer.Option(
        None,
        "--hub-key",
        metavar="FILE",
        help="The hub's public key (its DATA/hub-signing.pub); default: the one kept at enrolment.",
    ),
    verify_key: list[Path] | None = typer.Option(
        None,
        "--verify-key",
        metavar="PUBKEY.pem",
        help="Also require each image's cosign signature (from the bundle) to verify with this key "
        "(repeatable; default: AIEDGE_AGENT_VERIFY_KEYS, as the agent runs).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Verify an offline bundle completely (the hub's signature, the site name, every blob's
    digest, every image complete, and image signatures with --verify-key), then hand it to the
    agent of DATA: it applies it on its next pass (or when it starts), hub or no hub."""
    import asyncio

    from pydantic import ValidationError

    from aiedge.agent.bundle import import_bundle
    from aiedge.agent.signatures import read_keys

    given: dict[str, Any] = {"data": data, "site": site, "hub_key": hub_key}
    if verify_key:
        given["verify_keys"] = verify_key
    try:
        settings = AgentSettings(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as e:
        raise AiedgeError(str(e.errors()[0]["msg"])) from None
    if not bundle.is_file():
        raise AiedgeError(f"{bundle}: no such file")
    keys = read_keys(settings.verify_keys)
    report = asyncio.run(import_bundle(bundle, settings, keys))
    if json_out:
        typer.echo(json.dumps({**report.__dict__, "apps": [list(a) for a in report.apps]}))
    else:
        typer.echo(report.summary())
