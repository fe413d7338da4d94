"""CLI options made from a process's settings fields (pydantic-settings), so each option's type,
default, help and environment variable are declared once, on the field.

``@settings_options(AgentSettings, Opt("hub"), Opt("port_offset"), ...)`` adds one option per
field to a typer command; the command gets ``given``: the fields set *on the command line* only,
to pass to the settings class, which reads the environment for the rest (flags win over
``AIEDGE_*`` variables, which win over defaults). :func:`setting_error` turns a settings
``ValidationError`` into one line naming the flag or variable that was wrong.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import typer
from pydantic import ValidationError
from pydantic_settings import BaseSettings

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Opt:
    """One settings field as an option. ``flag`` defaults to ``--field-name``; ``type`` overrides
    the field's type on the command line (e.g. ``str`` for a rate that the field parses);
    ``default_text`` shows a default made by a factory; ``help`` replaces the field's description
    when the command line needs other words (e.g. what a flag's absence means)."""

    field: str
    flag: str | None = None
    short: str | None = None
    metavar: str | None = None
    type: Any = None
    default_text: str | None = None
    help: str | None = None
    hidden: bool = False

    @property
    def long(self) -> str:
        return self.flag or "--" + self.field.replace("_", "-")


def settings_options(model: type[BaseSettings], *opts: Opt) -> Callable[[F], F]:
    """Add ``opts`` (fields of ``model``) as options of the decorated typer command, which takes
    a keyword ``given: dict[str, Any]`` instead of them."""

    def decorate(func: F) -> F:
        own = inspect.signature(func)
        hints = get_type_hints(func)
        params = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in own.parameters.values()
            if p.name != "given"
        ]
        if not params or params[0].annotation is not typer.Context:
            params.insert(0, inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD))
            params[0] = params[0].replace(annotation=typer.Context)
            takes_ctx = False
        else:
            takes_ctx = True
        for opt in opts:
            annotation, option = _option(model, opt)
            params.append(
                inspect.Parameter(
                    opt.field, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation
                )
            )
        params = [params[0], *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params[1:])]
        names = {o.field for o in opts}

        @functools.wraps(func)
        def command(ctx: typer.Context, **kw: Any) -> Any:
            given = {
                name: kw.pop(name)
                for name in names
                if (source := ctx.get_parameter_source(name)) is not None and source.name == "COMMANDLINE"
            }
            for name in names:
                kw.pop(name, None)
            return func(ctx, **kw, given=given) if takes_ctx else func(**kw, given=given)

        command.__signature__ = own.replace(parameters=params, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        del command.__wrapped__  # typer reads the signature above, not the function's own
        return command  # type: ignore[return-value]

    return decorate


def _option(model: type[BaseSettings], opt: Opt) -> tuple[Any, Any]:
    """(annotation, typer.Option) for one field."""
    field = model.model_fields[opt.field]
    annotation = opt.type or _cli_type(field.annotation)
    env = (model.model_config.get("env_prefix") or "") + opt.field.upper()
    is_bool = annotation is bool
    factory = field.default_factory is not None
    default: Any = None if factory or field.default in (None, "") else field.default
    if isinstance(opt.type, type) and default is not None and not isinstance(default, opt.type):
        default = None  # e.g. a rate: the field holds bytes/s, the flag takes "2MiB/s"
    decls = [opt.long] if not (is_bool and default) else [f"{opt.long}/--no-{opt.long[2:]}"]
    if opt.short:
        decls.append(opt.short)
    text = opt.help or _sentence(field.description or "")
    show: bool | str = True
    if opt.default_text:
        show = opt.default_text
    elif default is None or (is_bool and not default):
        show = False
    option = typer.Option(
        False if is_bool and not default else default,
        *decls,
        # the variable is named, not read, here: the settings read it (a bad value is then one
        # line naming the variable, exit 1, as for every other setting)
        help=f"{text} \\[env: {env}]",
        metavar=opt.metavar,
        show_default=show,
        hidden=opt.hidden,
    )
    return annotation, option


def _cli_type(annotation: Any) -> Any:
    """The field's type as typer takes it: ``X | None`` is ``X``; lists and Literals stay."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _cli_type(args[0])
    if origin is list or origin is Literal:
        return annotation
    if annotation in (str, int, float, bool, Path):
        return annotation
    return str


def _sentence(description: str) -> str:
    text = description.strip()
    if not text:
        return text
    first = text.split()[0]
    if first.islower():  # not "gRPC", "ONNX"
        text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def setting_error(e: ValidationError, opts: Sequence[Opt], given: dict[str, Any], env_prefix: str) -> str:
    """One line for the first error: the flag when the value came from the command line, else the
    environment variable, then what is wrong."""
    err = e.errors()[0]
    msg = str(err["msg"]).removeprefix("Value error, ")
    field = str(err["loc"][0]) if err["loc"] else ""
    if not field:
        return msg
    flags = {o.field: o.long for o in opts}
    where = flags.get(field, "--" + field.replace("_", "-")) if field in given else env_prefix + field.upper()
    return f"{where}: {msg}"
