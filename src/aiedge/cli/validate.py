"""`aiedge validate DIR`: check a GitOps repo's files (the work tree, or Git HEAD with ``--head``)
and print a one-line summary, or one ``file:line:col: message`` line per error on stderr."""

from __future__ import annotations

from pathlib import Path

import typer

from aiedge.gitops import GitopsError, RepoInvalid, awaiting_build, load_repo, read_directory, read_git_head


def validate_command(
    directory: Path = typer.Argument(..., help="Root of the GitOps repo (a Git work tree or a folder)."),
    head: bool = typer.Option(False, "--head", help="Check the commit at Git HEAD instead of the files."),
) -> None:
    """Check the GitOps repo: schema, references, digests. Exit 1 with file:line:col errors."""
    if not directory.is_dir():
        raise GitopsError(f"{directory} is not a directory")
    snapshot = read_git_head(directory) if head else read_directory(directory)
    try:
        repo = load_repo(snapshot)
    except RepoInvalid as e:
        for problem in e.problems:
            typer.echo(str(problem), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {repo.summary()}")
    for app in awaiting_build(repo):
        typer.echo(f"note: app {app} is awaiting its first build (no image digest yet)", err=True)


def render_command(
    directory: Path = typer.Argument(..., help="Root of the GitOps repo."),
    site: str = typer.Option(..., "--site", help="The site to render."),
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
    import orjson

    from aiedge.gitops.jsonschema import kinds_schema

    typer.echo(orjson.dumps(kinds_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
