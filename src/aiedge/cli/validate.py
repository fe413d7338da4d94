"""`aiedge validate DIR`: check a GitOps repo's files (the work tree, or Git HEAD with ``--head``)
and print a one-line summary, or one ``file:line:col: message`` line per error on stderr; then
warnings (``--strict``: they fail it too), the files it ignored, and with ``--registry`` whether
every pinned image exists. ``--json`` prints all of it as one JSON object instead."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import typer

from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.cli.spelling import (
    CA_FILE,
    DIR_ARGUMENT,
    GITOPS,
    PASSWORD,
    PASSWORD_FILE,
    REGISTRY_CA,
    REGISTRY_INSECURE,
    USERNAME,
    gitops_dir,
    registry_credentials,
    renamed,
)
from aiedge.gitops import (
    GitopsError,
    GitopsRepo,
    Problem,
    RepoInvalid,
    awaiting_build,
    load_repo,
    read_directory,
    read_git_head,
)
from aiedge.gitops.checks import repo_warnings
from aiedge.oci.auth import Credentials


def _registry_problems(
    repo: GitopsRepo, insecure: bool, ca_file: Path | None, credentials: Credentials | None
) -> list[Problem]:
    from aiedge.gitops.images import missing_images
    from aiedge.oci.registry import RegistryClient

    def client_for(registry: str) -> RegistryClient:
        return RegistryClient(
            registry, insecure=True if insecure else None, ca_file=ca_file, credentials=credentials
        )

    return asyncio.run(missing_images(repo, client_for))


def _where(problem: Problem, directory: Path) -> str:
    return str(problem) if problem.file else f"{directory}: {problem}"


def validate_command(
    directory: Path | None = DIR_ARGUMENT,
    gitops: Path = GITOPS,
    head: bool = typer.Option(False, "--head", help="Check the commit at Git HEAD instead of the files."),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Fail on warnings too (a Placement that matches no Site, an App placed nowhere).",
    ),
    registry: bool = typer.Option(
        False, "--registry", help="Check that every App's image digest exists in its registry."
    ),
    insecure: bool = REGISTRY_INSECURE,
    insecure_registry: bool = typer.Option(False, "--insecure-registry", hidden=True),
    ca: Path | None = REGISTRY_CA,
    ca_file: Path | None = CA_FILE,
    username: str | None = USERNAME,
    password_file: Path | None = PASSWORD_FILE,
    password: str | None = PASSWORD,
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
) -> None:
    """Check the GitOps repo: schema, references, placements, and with --registry the digests.

    Errors are file:line:col lines on stderr (exit 1); -o json prints one object (ok, errors,
    warnings, ignored files...) on stdout instead."""
    fmt = choose(output, as_json)
    directory = gitops_dir(gitops, directory, "validate")
    insecure = insecure or renamed(insecure_registry, "--insecure-registry", "--insecure")
    ca = ca or renamed(ca_file, "--ca-file", "--ca")
    if not directory.is_dir():
        raise GitopsError(f"{directory} is not a directory")
    snapshot = read_git_head(directory) if head else read_directory(directory)
    repo: GitopsRepo | None = None
    errors: list[Problem] = []
    warnings: list[Problem] = []
    try:
        repo = load_repo(snapshot)
    except RepoInvalid as e:
        errors = e.problems
    if repo is not None:
        warnings = repo_warnings(repo)
        if registry:
            credentials = registry_credentials(username, password, password_file)
            errors = _registry_problems(repo, insecure, ca, credentials)
    ok = not errors and not (strict and warnings)
    if fmt in ("json", "yaml"):
        emit(_report(snapshot.revision, repo, errors, warnings, ok, strict), fmt)
    else:
        _print(directory, repo, errors, warnings, strict)
    if not ok:
        raise typer.Exit(1)


def _report(
    revision: str,
    repo: GitopsRepo | None,
    errors: list[Problem],
    warnings: list[Problem],
    ok: bool,
    strict: bool,
) -> dict[str, Any]:
    return {
        "ok": ok,
        "revision": revision,
        "strict": strict,
        "counts": None
        if repo is None
        else {
            "apps": len(repo.apps),
            "sites": len(repo.sites),
            "placements": len(repo.placements),
            "site_secrets": len(repo.secrets),
        },
        "errors": [p.to_json() for p in errors],
        "warnings": [p.to_json() for p in warnings],
        "ignored": [] if repo is None else [{"file": f, "why": why} for f, why in repo.ignored.items()],
        "awaiting_build": [] if repo is None else awaiting_build(repo),
    }


def _print(
    directory: Path, repo: GitopsRepo | None, errors: list[Problem], warnings: list[Problem], strict: bool
) -> None:
    for problem in errors:
        typer.echo(_where(problem, directory), err=True)
    for problem in warnings:
        typer.echo(f"{'error' if strict else 'warning'}: {_where(problem, directory)}", err=True)
    if repo is None:
        return
    for path, why in repo.ignored.items():
        typer.echo(f"note: ignored {path} ({why})", err=True)
    for app in awaiting_build(repo):
        typer.echo(f"note: app {app} is awaiting its first build (no image digest yet)", err=True)
    if not errors and not (strict and warnings):
        typer.echo(f"ok: {repo.summary()}")


def render_command(
    directory: Path | None = DIR_ARGUMENT,
    gitops: Path = GITOPS,
    site: str = typer.Option(..., "--site", "-s", help="The site to render."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the files here (default: stdout, one stream)."
    ),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Namespace of every object (kustomization.yaml), over each App's own."
    ),
    runtime_image: str | None = typer.Option(
        None,
        "--runtime-image",
        help="aiedge's runtime image (REGISTRY/REPO@sha256:...) that serves model-only images, "
        "mounted as an image volume.",
    ),
    service_monitor: bool = typer.Option(
        True, "--service-monitor/--no-service-monitor", help="Render a ServiceMonitor per app."
    ),
    head: bool = typer.Option(False, "--head", help="Render the commit at Git HEAD instead of the files."),
) -> None:
    """Render SITE's Kubernetes manifests for Argo CD/Flux: Deployment, Service, Route or Ingress,
    ServiceMonitor, test-data ConfigMap, smoke CronJob, Namespace, kustomization.yaml."""
    from aiedge.gitops.render import RenderOptions, render_site

    directory = gitops_dir(gitops, directory, "render")
    if runtime_image is not None and "@sha256:" not in runtime_image:
        raise GitopsError(f"--runtime-image {runtime_image}: pin it by digest (REGISTRY/REPO@sha256:...)")
    snapshot = read_git_head(directory) if head else read_directory(directory)
    options = RenderOptions(namespace=namespace, runtime_image=runtime_image, service_monitor=service_monitor)
    try:
        files = render_site(load_repo(snapshot), site, options)
    except RepoInvalid as e:
        for problem in e.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    if out is None:
        typer.echo("---\n".join(f"# {name}\n{text}" for name, text in files.items()), nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    typer.echo(f"wrote {len(files)} files to {out}")


def schema_command() -> None:
    """Print the JSON Schema of the GitOps kinds (App, Site, Placement) for editors and CI."""

    from aiedge.gitops.jsonschema import kinds_schema

    typer.echo(orjson.dumps(kinds_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
