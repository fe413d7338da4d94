"""`aiedge hub operator create|revoke|list`: operators' API tokens, against the hub's database
(as ``aiedge hub token create``), while the hub runs or not. ``aiedge hub`` mounts
:func:`make_app` with the way it opens its store."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import orjson
import typer

from aiedge.errors import AiedgeError
from aiedge.hub.clock import system_clock
from aiedge.hub.operators import ROLES, create_operator_token
from aiedge.hub.store import Store

OpenStore = Callable[[typer.Context, Path | None], Store]

_DATA = typer.Option(None, "--data", "-d", help="The hub's data folder (same as the hub's --data).")


def make_app(open_store: OpenStore) -> typer.Typer:
    """The ``operator`` command group over the hub's store (``open_store(ctx, --data)``)."""
    app = typer.Typer(
        help="Operators' API tokens (read: see the fleet; admin: also steer it).", no_args_is_help=True
    )

    @app.command("create")
    def create(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="Who the token is for, e.g. alice@example.com or ci."),
        role: str = typer.Option(..., "--role", help="read (see the fleet) or admin (also steer rollouts)."),
        data: Path | None = _DATA,
        out: Path | None = typer.Option(
            None, "--out", help="Write the token to this file (mode 0600) instead of printing it."
        ),
    ) -> None:
        """Make an API token for operator NAME and print it once (only its hash is kept). Use it with
        `aiedge status --token-file FILE` (or AIEDGE_TOKEN), or log in to the dashboard with it."""
        if role not in ROLES:
            raise typer.BadParameter(f"want one of {', '.join(ROLES)}", param_hint="--role")
        store = open_store(ctx, data)
        try:
            token = create_operator_token(store, name, role, system_clock())
        finally:
            store.close()
        if out is None:
            typer.echo(token)
            return
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            raise AiedgeError(f"--out {out}: {e.strerror}") from None
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(token + "\n")
        typer.echo(f"{role} token for {name} written to {out}", err=True)

    @app.command("revoke")
    def revoke(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="The operator whose tokens are revoked."),
        data: Path | None = _DATA,
    ) -> None:
        """Revoke every token of operator NAME (every hub refuses them within a second)."""
        store = open_store(ctx, data)
        try:
            n = store.operators.revoke(name, system_clock())
        finally:
            store.close()
        if n == 0:
            raise AiedgeError(f"operator {name!r} has no live token here")
        typer.echo(f"revoked {n} token{'' if n == 1 else 's'} of operator {name}")

    @app.command("list")
    def list_operators(
        ctx: typer.Context,
        data: Path | None = _DATA,
        as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
    ) -> None:
        """Every operator token: name, role, created, revoked (never the token itself)."""
        store = open_store(ctx, data)
        try:
            found = store.operators.all()
        finally:
            store.close()
        rows = [
            {
                "name": o.name,
                "role": o.role,
                "created_at": o.created_at.isoformat(timespec="seconds"),
                "revoked_at": o.revoked_at.isoformat(timespec="seconds") if o.revoked_at else None,
            }
            for o in found
        ]
        if as_json:
            typer.echo(orjson.dumps(rows).decode())
            return
        for r in rows:
            state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "live"
            typer.echo(f"{r['name']}\t{r['role']}\t{r['created_at']}\t{state}")

    return app
