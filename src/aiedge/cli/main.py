"""The ``aiedge`` command: registers every command and maps errors to exit codes (``cli/entry.py``
runs ``aiedge serve`` without importing the rest).

Exit codes: 0 success, 1 a user error (one line on stderr, no traceback), 2 bad usage.
"""

from __future__ import annotations

import typer

from aiedge import __version__
from aiedge.cli import (
    agent,
    build,
    containers,
    demo,
    hub,
    importer,
    operators,
    rollout,
    secret,
    serve,
    status,
    validate,
)
from aiedge.cli.entry import run

app = typer.Typer(
    name="aiedge",
    help="Take trained ML models to near-edge sites and keep them serving, managed from one core.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"aiedge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """aiedge: package models, deliver them to edge sites with GitOps, observe them from the core."""


app.command("serve")(serve.serve_command)
app.command("build")(build.build_command)
app.command("keygen")(build.keygen_command)
app.command("verify")(build.verify_command)
app.command("validate")(validate.validate_command)
app.command("render")(validate.render_command)
app.command("schema")(validate.schema_command)
app.command("import")(importer.import_command)
hub.app.add_typer(operators.app, name="operator")
app.add_typer(hub.app, name="hub")
# `aiedge agent [OPTIONS]` runs the agent; `aiedge agent install --quadlet DIR` writes its units
agent_app = typer.Typer(context_settings={"help_option_names": ["-h", "--help"]})
agent_app.callback(invoke_without_command=True)(agent.agent_command)
agent_app.command("install")(containers.install_quadlet_command)
agent_app.command("recipient")(secret.recipient_command)
app.add_typer(agent_app, name="agent")
app.add_typer(secret.app, name="secret")
app.add_typer(containers.base_app, name="base")
app.command("status")(status.status_command)
app.add_typer(rollout.app, name="rollout")
app.command("demo")(demo.demo_command)


def main() -> None:
    run(app)
