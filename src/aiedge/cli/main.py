"""The ``aiedge`` command: the table of every command, each imported only when it runs
(``cli/lazy.py``), so ``aiedge version``, ``--help`` and shell completion answer at once and
``aiedge serve`` imports the serve command alone.

Exit codes: 0 success, 1 a user error (one line on stderr, no traceback), 2 bad usage.
"""

from __future__ import annotations

import typer

from aiedge import __version__
from aiedge.cli.lazy import Lazy, lazy_group, polish

COMMANDS = {
    "serve": Lazy(
        "aiedge.cli.serve:serve_command",
        "Serve models: KServe V2 (/v2/...), TF-Serving v1 (/v1/models/NAME:predict), MLflow (/invocations).",
    ),
    "build": Lazy(
        "aiedge.cli.build:build_command",
        "Package a model into an OCI image, smoke-test it, push it and (optionally) record it in GitOps.",
    ),
    "keygen": Lazy(
        "aiedge.cli.build:keygen_command",
        "Make an ECDSA P-256 key pair for signing images (cosign reads both files).",
    ),
    "verify": Lazy(
        "aiedge.cli.build:verify_command",
        'Check an image\'s cosign signature with a public key: exit 0 "verified", exit 1 with why not.',
    ),
    "validate": Lazy(
        "aiedge.cli.validate:validate_command",
        "Check the GitOps repo: schema, references, placements, and with --registry the digests.",
    ),
    "render": Lazy(
        "aiedge.cli.validate:render_command",
        "Render a site's Kubernetes manifests for Argo CD/Flux.",
    ),
    "schema": Lazy(
        "aiedge.cli.validate:schema_command",
        "Print the JSON Schema of the GitOps kinds (App, Site, Placement) for editors and CI.",
    ),
    "import": Lazy(
        "aiedge.cli.importer:import_command",
        "Import a seed-style ACM/kustomize GitOps tree (rendered with kubectl kustomize).",
    ),
    "status": Lazy(
        "aiedge.cli.status:status_command",
        "Show every site and the rollouts under way, or one SITE in detail.",
    ),
    "rollout": Lazy(
        "aiedge.cli.rollout:app", "See and steer an app's rollout: status, pause, resume, abort, retry."
    ),
    "demo": Lazy(
        "aiedge.cli.demo:demo_command",
        "Run a registry, a GitOps repo, a build, a hub and three sites on loopback until Ctrl-C.",
    ),
    "hub": Lazy("aiedge.cli.hub:app", "Run the hub (the core) and manage site enrolment."),
    "agent": Lazy(
        "aiedge.cli.agent:app",
        "Run a site's agent: pull the desired state, fetch and smoke-test models, serve them, report.",
    ),
    "logs": Lazy(
        "aiedge.cli.site_ops:logs_command",
        "Print a site's agent or app log, fetched through the hub over the site's own connection.",
    ),
    "diagnose": Lazy(
        "aiedge.cli.site_ops:diagnose_command",
        "Ask a site, through the hub, for its state, facts, last errors and cache usage.",
    ),
    "bundle": Lazy("aiedge.cli.bundle:app", "Offline bundles for sites with no network: export."),
    "secret": Lazy(
        "aiedge.cli.secret:app",
        "App secrets, encrypted in Git to each site's age key (decrypted only at the site).",
    ),
    "base": Lazy("aiedge.cli.containers:base_app", "The runtime base image model images stack on."),
    "config": Lazy(
        "aiedge.cli.config:app", "Hub contexts (URL, CA, token file) in ~/.config/aiedge/config.yaml."
    ),
    "completion": Lazy(
        "aiedge.cli.completion:completion_command", "Print the shell completion script: bash, zsh or fish."
    ),
    "version": Lazy("aiedge.cli.version:version_command", "Print aiedge's version."),
}

app = typer.Typer(
    name="aiedge",
    cls=lazy_group(COMMANDS),
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
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """aiedge: package models, deliver them to edge sites with GitOps, observe them from the core."""


def command() -> typer.core.TyperGroup:
    """The root click group, with the CLI's help conventions."""
    group = typer.main.get_command(app)
    polish(group)
    assert isinstance(group, typer.core.TyperGroup)
    return group


def main() -> None:
    """The same as ``aiedge.cli.entry:main`` (console scripts installed before it point here)."""
    from aiedge.cli.entry import main as entry_main

    entry_main()
