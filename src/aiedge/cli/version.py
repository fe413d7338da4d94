"""`aiedge version`: the installed version, fast (nothing but this module is imported)."""

from __future__ import annotations

import platform

import typer

from aiedge import __version__
from aiedge.cli.output import OUTPUT, Format, emit


def version_command(output: Format | None = OUTPUT) -> None:
    """Print aiedge's version (-o json|yaml: with Python's version and the platform)."""
    if output in (None, "wide"):
        typer.echo(f"aiedge {__version__}")
        return
    emit(
        {"version": __version__, "python": platform.python_version(), "platform": platform.platform()},
        output,
    )
