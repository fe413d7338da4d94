"""The ``aiedge`` command's entry point and its error contract. Commands are imported only when
they run (``cli/main.py``): ``aiedge serve`` on a site imports the serve command alone, not the
hub's database layer, the agent, builds, S3 and signing (110 MB and 2.4 s before a model loaded).

Exit codes: 0 success, 1 a user error (one line on stderr, no traceback), 2 bad usage.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import typer

from aiedge.errors import AiedgeError

COMPLETE_VAR = "_AIEDGE_COMPLETE"  # set by the shell completion scripts of `aiedge completion`


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
    if os.environ.get(COMPLETE_VAR):
        from typer._completion_classes import completion_init

        completion_init()  # typer's bash/zsh/fish protocols, as `aiedge completion` prints them
    from aiedge.cli.main import command

    root = command()
    run(lambda: root.main(prog_name="aiedge", complete_var=COMPLETE_VAR))
