"""`aiedge config`: named hub contexts, kubectl-style (``set-context``, ``use-context``,
``get-contexts``, ``current-context``, ``delete-context``, ``view``) in the file of
``cli/contexts.py``. A context names a token *file*; a token itself is never stored or taken
on the command line."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from aiedge.cli.contexts import Config, ConfigError, Context, config_path, load_config, save_config, to_yaml
from aiedge.cli.output import OUTPUT, Format, emit

app = typer.Typer(
    help="Hub contexts (URL, CA, token file) in ~/.config/aiedge/config.yaml.", no_args_is_help=True
)


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().resolve()


@app.command("set-context")
def set_context(
    name: str = typer.Argument(..., help="The context's name, e.g. prod or lab."),
    hub: str | None = typer.Option(
        None, "--hub", metavar="URL", help="The hub's URL (required for a new one)."
    ),
    ca: Path | None = typer.Option(
        None, "--ca", metavar="FILE", help="CA bundle that signs the hub's HTTPS certificate."
    ),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding an operator token (aiedge hub operator create); its path is saved, not the token.",
    ),
    use: bool = typer.Option(False, "--use", help="Also make it the current context."),
) -> None:
    """Save (or change) a hub context; relative paths are saved as absolute ones."""
    config = load_config()
    old = config.contexts.get(name)
    if old is None and hub is None:
        raise ConfigError(f"context {name!r} is new: give its --hub URL")
    if token_file is not None and not token_file.is_file():
        raise ConfigError(f"--token-file {token_file}: no such file")
    if ca is not None and not ca.is_file():
        raise ConfigError(f"--ca {ca}: no such file")
    fields = old.model_dump(by_alias=True) if old else {}
    if hub is not None:
        fields["hub"] = hub
    if ca is not None:
        fields["ca"] = _absolute(ca)
    if token_file is not None:
        fields["token-file"] = _absolute(token_file)
    try:
        config.contexts[name] = Context.model_validate(fields)
    except ValidationError as e:
        raise ConfigError(f"--hub: {str(e.errors()[0]['msg']).removeprefix('Value error, ')}") from None
    if use or config.current_context is None:
        config.current_context = name
    path = save_config(config)
    current = " (current)" if config.current_context == name else ""
    typer.echo(f"context {name}{current} saved in {path}")


@app.command("use-context")
def use_context(name: str = typer.Argument(..., help="The context to use from now on.")) -> None:
    """Make NAME the current context: status and rollout talk to its hub."""
    config = load_config()
    _need(config, name)
    config.current_context = name
    save_config(config)
    typer.echo(f"switched to context {name} ({config.contexts[name].hub})")


@app.command("current-context")
def current_context() -> None:
    """Print the current context's name."""
    name = load_config().current_context
    if name is None:
        raise ConfigError(f"no current context in {config_path()}: aiedge config use-context NAME")
    typer.echo(name)


@app.command("get-contexts")
def get_contexts(output: Format | None = OUTPUT) -> None:
    """List the contexts; * marks the current one."""
    config = load_config()
    if output in ("json", "yaml"):
        emit(to_yaml(config).get("contexts", {}), output)
        return
    rows = [("CURRENT", "NAME", "HUB", "CA", "TOKEN FILE")]
    for name, c in sorted(config.contexts.items()):
        mark = "*" if name == config.current_context else ""
        rows.append((mark, name, c.hub, str(c.ca or "-"), str(c.token_file or "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@app.command("delete-context")
def delete_context(name: str = typer.Argument(..., help="The context to delete.")) -> None:
    """Delete a context (the token file it names is left alone)."""
    config = load_config()
    _need(config, name)
    del config.contexts[name]
    if config.current_context == name:
        config.current_context = None
    save_config(config)
    typer.echo(f"deleted context {name}")


@app.command("view")
def view(output: Format | None = OUTPUT) -> None:
    """Print the config file (YAML; -o json for JSON)."""
    emit(to_yaml(load_config()), output if output == "json" else "yaml")


def _need(config: Config, name: str) -> None:
    if name not in config.contexts:
        known = ", ".join(sorted(config.contexts)) or "none"
        raise ConfigError(f"no context {name!r} in {config_path()} (contexts: {known})")
