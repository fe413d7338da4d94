"""`aiedge completion bash|zsh|fish`: the script that makes the shell complete aiedge's commands,
options and values; completing imports only the command being completed (``cli/lazy.py``)."""

from __future__ import annotations

from typing import Literal

import typer
from typer._completion_shared import get_completion_script

from aiedge.cli.entry import COMPLETE_VAR

Shell = Literal["bash", "zsh", "fish"]


def completion_command(
    shell: Shell = typer.Argument(..., help="bash, zsh or fish."),
) -> None:
    """Print the shell completion script: bash, zsh or fish.

    Load it with: eval "$(aiedge completion bash)" in ~/.bashrc, eval "$(aiedge completion zsh)"
    in ~/.zshrc, or aiedge completion fish > ~/.config/fish/completions/aiedge.fish."""
    typer.echo(get_completion_script(prog_name="aiedge", complete_var=COMPLETE_VAR, shell=shell))
