"""`aiedge base build` (the runtime base image) and `aiedge agent install --quadlet DIR` (systemd
units that run the agent and its apps under podman)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from aiedge.cli.output import JSON, OUTPUT, Format, choose, emit
from aiedge.cli.progress import iec
from aiedge.cli.spelling import read_secret_file, warn
from aiedge.containers.base_image import BaseSpec, build_base
from aiedge.containers.services import check_packages
from aiedge.oci.layers import source_date_epoch
from aiedge.oci.platform import Platform, host_platform, parse_platforms
from aiedge.oci.reference import ImageReference

base_app = typer.Typer(help="The runtime base image model images stack on.", no_args_is_help=True)


def _say(message: str) -> None:
    typer.echo(f"==> {message}", err=True)


@base_app.command("build")
def base_build_command(
    out: Path = typer.Option(..., "--out", help="OCI image layout folder to write (created or added to)."),
    push: str | None = typer.Option(None, "--push", help="Also push it as REGISTRY/REPO:TAG."),
    source: Path | None = typer.Option(None, "--source", help="aiedge source tree (default: this one)."),
    wheel: Path | None = typer.Option(None, "--wheel", help="Install this aiedge wheel instead of --source."),
    suite: str = typer.Option("bookworm", "--suite", help="Debian suite."),
    mirror: str | None = typer.Option(
        None, "--mirror", help="Debian mirror (default: apt's configured one)."
    ),
    runtimes: bool = typer.Option(
        True, "--runtimes/--no-runtimes", help="Include ONNX Runtime, OpenVINO, LightGBM and scikit-learn."
    ),
    cache: Path | None = typer.Option(
        None, "--cache", help="Download cache (default: ~/.cache/aiedge/base)."
    ),
    platform: str | None = typer.Option(
        None,
        "--platform",
        help="Platforms to build, comma-separated (linux/amd64, linux/arm64); several make an image "
        "index. Another architecture than this machine's runs under qemu-user (qemu-user-static). "
        "Default: this machine's.",
    ),
    package: list[str] | None = typer.Option(
        None,
        "--package",
        metavar="DEB",
        help="Also install this Debian package (repeatable); the hub's image: --no-runtimes --package git "
        "--extra postgres.",
    ),
    extra: list[str] | None = typer.Option(
        None,
        "--extra",
        metavar="NAME",
        help="Also install this aiedge extra (repeatable), e.g. postgres for a hub on PostgreSQL.",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Plain HTTP to the registry (loopback registries: always)."
    ),
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
) -> None:
    """Build the base image with debootstrap (no container daemon); same inputs give the same digest
    (per platform)."""
    platforms = _platforms(platform)
    ref = ImageReference.parse(push) if push else None
    spec = BaseSpec(
        out=out,
        source=source,
        wheel=wheel,
        suite=suite,
        mirror=mirror,
        with_runtimes=runtimes,
        created=source_date_epoch(),
        tag=(ref.tag if ref and ref.tag else "latest"),
        platforms=tuple(platforms),
        packages=tuple(check_packages(package or [])),
        extras=tuple(extra or []),
        **({"cache": cache} if cache else {}),
    )
    built = build_base(spec, _say)
    result: dict[str, object] = {
        "digest": built.image.digest,
        "layout": str(out),
        "ref": built.image.transport_ref,
        "size": built.size,
        "unpacked": built.unpacked,
        "seconds": round(built.seconds, 1),
        "platforms": [
            {
                "platform": str(p.platform),
                "digest": p.digest,
                "size": p.size,
                "unpacked": p.unpacked,
                "seconds": round(p.seconds, 1),
            }
            for p in built.platforms
        ],
    }
    _push(result, out, ref, spec.tag, insecure)
    fmt = choose(output, as_json)
    if fmt in ("json", "yaml"):
        emit(result, fmt)
    else:
        kind = "image index" if len(built.platforms) > 1 else "base image"
        typer.echo(f"{kind} {result['digest']} in {out} ({iec(built.size)}, {built.seconds:.0f} s)")
        if len(built.platforms) > 1:
            for p in built.platforms:
                typer.echo(f"  {p.platform}: {p.digest} ({iec(p.size)}, {p.seconds:.0f} s)")
        if "image" in result:
            typer.echo(f"pushed {result['image']}")


def _push(result: dict[str, object], out: Path, ref: ImageReference | None, tag: str, insecure: bool) -> None:
    if ref is not None:
        from aiedge.containers.push import push_layout

        _say(f"pushing to {ref}")
        digest = asyncio.run(push_layout(out, ref, tag=tag, insecure=insecure or None))
        result["image"] = ref.with_digest(digest).pinned


@base_app.command("service")
def base_service_command(
    name: str = typer.Argument(
        ..., help="postgres or git-sync: what the core's manifests run beside the hub."
    ),
    out: Path = typer.Option(..., "--out", help="OCI image layout folder to write (created or added to)."),
    push: str | None = typer.Option(None, "--push", help="Also push it as REGISTRY/REPO:TAG."),
    suite: str = typer.Option("bookworm", "--suite", help="Debian suite."),
    mirror: str | None = typer.Option(
        None, "--mirror", help="Debian mirror (default: apt's configured one)."
    ),
    cache: Path | None = typer.Option(
        None, "--cache", help="Download cache (default: ~/.cache/aiedge/base)."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Plain HTTP to the registry (loopback registries: always)."
    ),
    output: Format | None = OUTPUT,
    as_json: bool = JSON,
) -> None:
    """Build a service image of the core (PostgreSQL, git-sync) from Debian's packages, no daemon."""
    from aiedge.containers.services import ServiceSpec, build_service

    ref = ImageReference.parse(push) if push else None
    spec = ServiceSpec(
        service=name,
        out=out,
        suite=suite,
        mirror=mirror,
        created=source_date_epoch(),
        tag=(ref.tag if ref and ref.tag else "latest"),
        **({"cache": cache} if cache else {}),
    )
    built = build_service(spec, _say)
    result: dict[str, object] = {
        "digest": built.image.digest,
        "layout": str(out),
        "ref": built.image.transport_ref,
        "size": built.size,
        "seconds": round(built.seconds, 1),
    }
    _push(result, out, ref, spec.tag, insecure)
    fmt = choose(output, as_json)
    if fmt in ("json", "yaml"):
        emit(result, fmt)
    else:
        typer.echo(f"{name} image {result['digest']} in {out} ({iec(built.size)}, {built.seconds:.0f} s)")
        if "image" in result:
            typer.echo(f"pushed {result['image']}")


def _platforms(text: str | None) -> list[Platform]:
    if text is None:
        return [host_platform()]
    try:
        return parse_platforms(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--platform") from None


def install_quadlet_command(
    quadlet: Path = typer.Option(..., "--quadlet", help="Folder to write the units into."),
    image: str = typer.Option(..., "--image", help="Base image the agent runs from (REG/REPO@sha256:...)."),
    hub: str = typer.Option(..., "--hub", help="Hub base URL."),
    site: str = typer.Option(..., "--site", help="This site's name at the hub."),
    token_file: Path | None = typer.Option(
        None,
        "--token-file",
        metavar="FILE",
        help="File holding the join token (aiedge hub token create); it goes into the unit's "
        "environment, which is then readable by root only.",
    ),
    token: str | None = typer.Option(None, "--token", hidden=True),  # deprecated: on argv
    runtime: str = typer.Option("process", "--runtime", help="How the agent runs apps: process or podman."),
    apps_from: Path | None = typer.Option(
        None,
        "--apps-from",
        help="An agent data folder: also write a unit per app of its saved desired state.",
    ),
    port_offset: int = typer.Option(0, "--port-offset", help="Added to every app port."),
) -> None:
    """Write systemd quadlet units (.container, .volume) for the agent and, optionally, its apps."""
    from aiedge.agent.state import load_state
    from aiedge.containers.quadlet import AgentUnit, write_units

    if token is not None:
        warn("--token puts the token in every user's ps; use --token-file FILE")
    if token_file is not None:
        token = read_secret_file(token_file, "--token-file")
    apps = []
    if apps_from is not None:
        state = load_state(apps_from / "state.json")
        apps = list(state.desired.apps) if state.desired else []
    agent = AgentUnit(image=image, hub=hub, site=site, token=token, runtime=runtime)
    for path in write_units(quadlet, agent, apps, port_offset=port_offset):
        typer.echo(str(path))
    typer.echo(
        "copy them to /etc/containers/systemd/, then: systemctl daemon-reload; systemctl start aiedge-agent"
    )
