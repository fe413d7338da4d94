"""`aiedge build`: package a model into an OCI image, smoke-test it, push it, record it in GitOps.

Steps and progress go to stderr; the result goes to stdout (with ``--json``, its last line is
``{"digest": ..., "image": ...}`` exactly, for scripts).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TransferSpeedColumn

from aiedge.build.pipeline import BuildRequest, BuildResult, run_build
from aiedge.oci.auth import Credentials
from aiedge.oci.reference import ImageReference


class _ConsoleReporter:
    """Steps as lines on stderr; a byte progress bar while pushing (only on a terminal)."""

    def __init__(self, quiet: bool) -> None:
        self._console = Console(stderr=True)
        self._quiet = quiet
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def step(self, text: str) -> None:
        if not self._quiet:
            self._console.print(text, markup=False, highlight=False, soft_wrap=True)

    def transfer_started(self, total: int) -> None:
        if self._quiet or not self._console.is_terminal:
            return
        self._progress = Progress(
            "{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=self._console
        )
        self._progress.start()
        self._task = self._progress.add_task("push", total=total)

    def transferred(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def transfer_done(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def _summary(result: BuildResult) -> str:
    p = result.push
    lines = [
        f"built {result.image}",
        f"  format {result.format}; pushed {_mib(p.bytes_sent)} in {p.blobs_sent} blob(s), "
        f"skipped {_mib(p.bytes_skipped)} in {p.blobs_skipped} the registry had",
    ]
    if result.smoke is not None:
        lines.append("  smoke test passed")
    if result.gitops_commit:
        lines.append(f"  GitOps commit {result.gitops_commit}")
    return "\n".join(lines)


def build_command(
    path: Path = typer.Argument(..., help="The model: a folder (SavedModel, 1/model.onnx...) or a file."),
    name: str = typer.Option(..., "--name", help="Model name clients use (also models/NAME in the image)."),
    image: str = typer.Option(..., "--image", help="Where to push: REGISTRY/REPOSITORY[:TAG]."),
    insecure: bool = typer.Option(False, "--insecure", help="Plain HTTP to the registry (loopback: always)."),
    ca_file: Path | None = typer.Option(None, "--ca-file", help="CA bundle that signs the registry's TLS."),
    username: str | None = typer.Option(
        None, "--username", envvar="AIEDGE_REGISTRY_USERNAME", help="Registry user name."
    ),
    password: str | None = typer.Option(
        None,
        "--password",
        envvar="AIEDGE_REGISTRY_PASSWORD",
        help="Registry password or token (prefer the env).",
    ),
    test_data: Path | None = typer.Option(
        None,
        "--test-data",
        help="Smoke test: a ConfigMap (data.json/output.json) or {request, response} JSON.",
    ),
    protocol: str | None = typer.Option(
        None,
        "--protocol",
        help="Protocol of the test request (v2, tfserving, mlflow); default: from its body.",
    ),
    gitops: Path | None = typer.Option(
        None, "--gitops", help="GitOps repo work tree to commit the digest to."
    ),
    app: str | None = typer.Option(None, "--app", help="The App in --gitops to point at the new image."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (last line of stdout)."),
) -> None:
    """Package a model into an OCI image, smoke-test it, push it and (optionally) record it in GitOps."""
    ref = ImageReference.parse(image)
    credentials = Credentials(username, password or "") if username else None
    request = BuildRequest(
        model=path,
        name=name,
        image=ref,
        insecure=True if insecure else None,
        ca_file=ca_file,
        credentials=credentials,
        test_data=test_data,
        protocol=protocol,
        gitops_dir=gitops,
        app=app,
    )
    result = asyncio.run(run_build(request, _ConsoleReporter(quiet=False)))
    if as_json:
        print(json.dumps({"digest": result.digest, "image": result.image}))
    else:
        print(_summary(result))
    sys.stdout.flush()
