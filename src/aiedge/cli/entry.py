"""The ``aiedge`` command's entry point. ``aiedge serve`` runs on every site, where start-up time
and memory count: it imports the serve command alone, not the whole CLI (the hub's database
layer, the agent, builds, S3 and signing took 110 MB and 2.4 s before a model was loaded).
Every other command goes through ``aiedge.cli.main``.

Exit codes (for both): 0 success, 1 a user error (one line on stderr, no traceback), 2 bad usage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from aiedge.errors import AiedgeError


def run(app: Callable[[], object]) -> None:
    """Run a Typer app with the CLI's error contract."""
    try:
        app()
    except AiedgeError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from aiedge.cli.serve import serve_command

        app = typer.Typer(
            name="aiedge",
            add_completion=False,
            pretty_exceptions_enable=False,
            context_settings={"help_option_names": ["-h", "--help"]},
        )
        # a callback keeps "serve" a subcommand (Typer runs a lone command without its name)
        app.callback()(lambda: None)
        app.command("serve")(serve_command)
        run(lambda: app(prog_name="aiedge"))
        return
    from aiedge.cli import main as full

    full.main()
