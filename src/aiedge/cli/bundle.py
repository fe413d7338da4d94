"""`aiedge bundle export`: one site's desired state, signed by the hub, with every image it
needs, as one file for a site with no network (`aiedge agent import FILE` applies it there)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aiedge.cli.spelling import REGISTRY_INSECURE
from aiedge.contracts import DesiredState
from aiedge.errors import AiedgeError
from aiedge.gitops import RepoInvalid, desired_for_site, load_repo, read_source
from aiedge.hub.bundle_export import ExportReport, export_bundle
from aiedge.hub.signing import signing_key
from aiedge.oci.registry import RegistryClient

app = typer.Typer(
    help="Offline bundles for sites with no network.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.callback()(lambda: None)  # keeps `export` a subcommand (Typer runs a lone command without its name)
_PIN = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)@(sha256:[0-9a-f]{64})$")


@app.command("export")
def export_command(
    apps: list[str] | None = typer.Argument(
        None, metavar="[APP@DIGEST]...", help="Carry only these apps' images (the site has the others)."
    ),
    site: str = typer.Option(..., "--site", "-s", help="The site the bundle is for."),
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="The bundle file to write."),
    gitops: Path = typer.Option(
        ..., "--gitops", "-g", metavar="DIR", help="The GitOps repo the hub reads (its HEAD is bundled)."
    ),
    data: Path = typer.Option(
        ..., "--data", "-d", metavar="DIR", help="The hub's data folder: its signing key is there."
    ),
    insecure: bool = REGISTRY_INSECURE,
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Write SITE's desired state at the GitOps HEAD, signed with the hub's key (DATA/hub-signing.key,
    made on first use), and every blob of its images, their cosign signatures and provenance, as
    one tar file (an OCI image layout). `aiedge agent import FILE` verifies and applies it at the
    site with no hub and no registry reachable."""
    only: dict[str, str] | None = None
    if apps:
        only = {}
        for pin in apps:
            m = _PIN.match(pin)
            if m is None:
                raise AiedgeError(f"{pin}: want APP@sha256:<64 hex>")
            only[m.group(1)] = m.group(3)
    if not out.parent.is_dir():
        raise AiedgeError(f"--out {out}: no folder {out.parent}")
    try:
        repo = load_repo(read_source(gitops))
    except RepoInvalid as e:
        first = "; ".join(str(p) for p in e.problems[:3])
        raise AiedgeError(f"--gitops {gitops}: HEAD is not valid ({first}); nothing was bundled") from None
    state = desired_for_site(repo, site)
    key = signing_key(data)
    report = asyncio.run(_export(state, key, out, insecure, only))
    if json_out:
        typer.echo(json.dumps({"file": str(out), **report.__dict__}))
        return
    typer.echo(
        f"{out}: site {report.site} at {report.revision}: {len(report.apps)} app(s) "
        f"({', '.join(report.apps) or 'none'}), {report.blobs} blobs, {report.bytes:,} bytes, "
        f"{report.signatures} signature(s), {report.attestations} attestation(s), in {report.seconds:.1f}s"
    )


async def _export(
    state: DesiredState, key: Ed25519PrivateKey, out: Path, insecure: bool, only: dict[str, str] | None
) -> ExportReport:
    clients: dict[str, RegistryClient] = {}

    def client(registry: str) -> RegistryClient:
        if registry not in clients:
            clients[registry] = RegistryClient(registry, insecure=True if insecure else None)
        return clients[registry]

    try:
        return await export_bundle(state, key, out, client, only)
    finally:
        for c in clients.values():
            await c.aclose()
