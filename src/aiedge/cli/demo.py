"""`aiedge demo`: the options; the demo itself is :mod:`aiedge.demo`."""

from __future__ import annotations

from pathlib import Path

import typer

from aiedge.demo.run import DemoOptions, run_demo
from aiedge.errors import AiedgeError


def demo_command(
    model: Path | None = typer.Option(
        None, "--model", help="Model to serve (dir or file); default: aiedge's own demo model."
    ),
    name: str | None = typer.Option(None, "--name", help="Model name (required with --model)."),
    test_data: Path | None = typer.Option(
        None, "--test-data", help="Smoke test: the seed's test-data ConfigMap or JSON {request, response}."
    ),
    data: Path | None = typer.Option(
        None, "--data", help="Keep the demo's files here (default: a temp dir, removed)."
    ),
    runtime: str = typer.Option(
        "process",
        "--runtime",
        help="process (every site), or podman: site-a runs its app under podman from a runnable image.",
    ),
    base_layout: Path | None = typer.Option(
        None,
        "--base-layout",
        help="With --runtime podman: the base image as an OCI layout (aiedge base build --out DIR); "
        "default: built once (root, debootstrap) and cached under ~/.cache/aiedge/base/images.",
    ),
) -> None:
    """Run a registry, a GitOps repo, a build, a hub and three sites on loopback until Ctrl-C."""
    if model is not None and (name is None or test_data is None):
        raise typer.BadParameter("--model needs --name and --test-data too", param_hint="--model")
    if model is None and (name or test_data):
        raise typer.BadParameter("--name and --test-data go with --model", param_hint="--name")
    if model is not None and not model.exists():
        raise AiedgeError(f"--model {model}: no such file or directory")
    if test_data is not None and not test_data.is_file():
        raise AiedgeError(f"--test-data {test_data}: no such file")
    if runtime not in ("process", "podman"):
        raise typer.BadParameter("process or podman", param_hint="--runtime")
    if base_layout is not None and runtime != "podman":
        raise typer.BadParameter("goes with --runtime podman", param_hint="--base-layout")
    run_demo(DemoOptions(model, name, test_data, data, runtime, base_layout))
