"""Command groups whose commands are imported only when they run.

``aiedge version``, ``--help`` and shell completion must answer at once; importing every
command (the hub's database layer, the agent, builds, S3, signing) took 1.5-3 s before anything
printed. A group lists its commands from a table of ``name -> module:attribute + summary``; the
summary is what help listings and completions show, and a command's module is imported when that
command is resolved to run (or to show its own help).

Every command loaded here also gets the CLI's help conventions: flags show no ``<bool>`` type.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, ClassVar

import typer
import typer.main
from typer._click.decorators import help_option
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

HELP_NAMES = ("-h", "--help")
# while set, commands are listed (help panels, completions): summaries, no imports
_listing: ContextVar[bool] = ContextVar("aiedge_cli_listing", default=False)


@dataclass(frozen=True)
class Lazy:
    """A command to import on use: ``target`` is ``module:attribute``, a typer command function or
    a ``typer.Typer`` group; ``summary`` is its one line in listings."""

    target: str
    summary: str
    hidden: bool = False


class LazyGroup(TyperGroup):
    """A ``TyperGroup`` that also holds the commands of :attr:`lazy`, imported on first use."""

    lazy: ClassVar[dict[str, Lazy]] = {}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self.lazy.get(cmd_name)
        if entry is None or cmd_name in self.commands:
            return super().get_command(ctx, cmd_name)
        if _listing.get():
            return TyperCommand(cmd_name, help=entry.summary, hidden=entry.hidden)
        command = load(entry.target, cmd_name)
        command.hidden = entry.hidden
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with listing():
            super().format_help(ctx, formatter)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        with listing():
            return super().shell_complete(ctx, incomplete)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as e:  # suggest among the commands not imported yet too
            if args and "Did you mean" not in e.message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    e.message = f"{e.message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise


def lazy_group(commands: dict[str, Lazy]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class holding ``commands`` (for ``typer.Typer(cls=...)``)."""
    return type("LazyGroup", (LazyGroup,), {"lazy": commands})


@contextmanager
def listing() -> Iterator[None]:
    token = _listing.set(True)
    try:
        yield
    finally:
        _listing.reset(token)


def load(target: str, name: str) -> Any:
    """The click command of ``module:attribute``, with the CLI's help conventions applied."""
    module_name, _, attribute = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attribute)
    command: Any
    if isinstance(obj, typer.Typer):
        command = typer.main.get_group(obj)  # a group even with one command (`base build`)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(obj)
        command = typer.main.get_command(single)
    command.name = name
    polish(command)
    return command


def polish(command: Any) -> None:
    """No ``<bool>`` beside a flag (its name says it all), ``-h`` as well as ``--help``;
    recursively for groups."""
    # typer's own --install-completion/--show-completion: `aiedge completion SHELL` does that
    command.params = [p for p in command.params if p.name not in ("install_completion", "show_completion")]
    if command.add_help_option and command._help_option is None:
        # click makes the help option on first use; made here, it can be polished too
        help_option(list(HELP_NAMES))(command)
        command._help_option = command.params.pop()
    for param in [*command.params, command._help_option]:
        if param.hidden and param.param_type_name == "argument":
            param.get_usage_pieces = lambda ctx: []  # a deprecated spelling: not in the usage line
        if param.metavar is not None:
            continue
        if getattr(param, "is_flag", False):
            param.metavar = ""
        elif getattr(param, "multiple", False):
            shown = param.display_type(typer.Context(command))  # <list[Path]>: a <path>, repeatable
            if shown.startswith("<list[") and shown.endswith("]>"):
                param.metavar = f"<{shown[6:-2].lower()}>"
    for sub in getattr(command, "commands", {}).values():
        polish(sub)
