"""`aiedge import DIR`: the seed's ACM + Argo CD GitOps tree as aiedge App/Site/Placement
documents, with a report of what maps and what does not."""

from __future__ import annotations

from pathlib import Path

import typer

from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.errors import AiedgeError


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        key, eq, rest = value.partition("=")
        if not key or (option == "--test-data" and not (eq and rest)):
            raise AiedgeError(f"{option} {value!r}: write NAME=VALUE")
        out[key] = rest
    return out


def import_command(
    directory: Path = typer.Argument(..., help="The seed's acm/ folder (or the repo that holds it)."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the documents here, a new folder (default: print them)."
    ),
    site: list[str] = typer.Option(
        [], "--site", help="NAME=CLUSTERSET: a cluster of an ACM cluster set, as a Site (repeatable)."
    ),
    test_data: list[str] = typer.Option(
        [], "--test-data", help="APP=FILE: the app's test request (the seed's test-data ConfigMap)."
    ),
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
) -> None:
    """Import a seed-style ACM/kustomize GitOps tree (rendered with kubectl kustomize).

    -o json|yaml prints the report (what maps, what does not and why) instead of the lines."""
    fmt = choose(output, as_json)
    as_json = fmt in ("json", "yaml")
    from aiedge.gitops.importer import import_seed, write_imported

    tests = {app: Path(path) for app, path in _pairs(test_data, "--test-data").items()}
    result = import_seed(directory, _pairs(site, "--site"), tests)
    if out is not None:
        write_imported(result, out)
    elif not as_json:
        typer.echo("---\n".join(result.files.values()), nl=False)
    if as_json:
        emit(result.report(), fmt)
        return
    report = [
        *(f"mapped: {line}" for line in result.mapped),
        *(f"not mapped: {line}" for line in result.not_mapped),
    ]
    summary = (
        f"{len(result.files)} documents, {len(result.mapped)} mapped, {len(result.not_mapped)} not mapped"
    )
    for line in [*report, f"{summary}" + (f"; wrote {out}" if out else "")]:
        typer.echo(line, err=out is None)
