"""Offline bundles at the core (:mod:`aiedge.contracts.bundle`): one site's desired state, signed
with the hub's key (:mod:`aiedge.hub.signing`), and every blob its images need (manifests,
configs, layers, cosign signatures and provenance attestations), pulled by digest from their
registries and written as one tar for a site with no network (a USB stick, a courier).

``only`` limits the blobs to some apps (``APP@DIGEST`` on the command line): the desired state is
still the whole site's, and the site must already hold the other apps' images.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aiedge.contracts import DesiredApp, DesiredState
from aiedge.contracts.bundle import (
    APP_ANNOTATION,
    BUNDLE_DESIRED,
    BUNDLE_SIGNATURE,
    REGISTRY_ANNOTATION,
    BundleSignature,
)
from aiedge.hub.errors import HubError
from aiedge.hub.signing import key_id
from aiedge.oci.cosign import attestation_tag, signature_tag
from aiedge.oci.digest import check_digest, sha256_bytes
from aiedge.oci.image import read_manifest_descriptors
from aiedge.oci.layout import LAYOUT_FILE, LAYOUT_VERSION, IndexEntry, index_json
from aiedge.oci.registry import RegistryClient

MAX_SIDE_BLOB = 16 << 20  # a signature payload or an attestation


class BundleError(HubError):
    """A bundle that cannot be made as asked (an unknown app, a digest Git does not place)."""


@dataclass
class ExportReport:
    site: str
    revision: str
    apps: list[str] = field(default_factory=list)
    signatures: int = 0
    attestations: int = 0
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0


def sign_desired(key: Ed25519PrivateKey, state: DesiredState) -> tuple[bytes, bytes]:
    """(the desired state's JSON, as the hub serves it; its :class:`BundleSignature` JSON)."""
    desired = state.model_dump_json().encode()
    sig = BundleSignature(
        key_id=key_id(key),
        signature=base64.b64encode(key.sign(desired)).decode(),
        site=state.site,
        digest=state.digest,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return desired, sig.model_dump_json().encode()


async def export_bundle(
    state: DesiredState,
    key: Ed25519PrivateKey,
    out: Path,
    client: Callable[[str], RegistryClient],
    only: dict[str, str] | None = None,
) -> ExportReport:
    """Write the bundle for ``state`` to ``out`` (via ``out.partial``, renamed when complete)."""
    started = time.monotonic()
    apps = _chosen(state, only)
    report = ExportReport(state.site, state.revision, apps=[f"{a.name}@{a.digest}" for a in apps])
    desired, signature = sign_desired(key, state)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".bundle-") as work:
        blobs = Path(work)
        entries: list[IndexEntry] = []
        for app in apps:
            entries += await _pull(app, client(app.registry), blobs, report)
        meta = {LAYOUT_FILE: LAYOUT_VERSION, BUNDLE_DESIRED: desired, BUNDLE_SIGNATURE: signature}
        meta["index.json"] = index_json(entries)
        report.blobs, report.bytes = await asyncio.to_thread(_write, out, meta, blobs)
    report.seconds = time.monotonic() - started
    return report


def _write(out: Path, meta: dict[str, bytes], blobs: Path) -> tuple[int, int]:
    """The tar, metadata first (an importer checks the signature before reading any blob)."""
    count = size = 0
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w:", format=tarfile.PAX_FORMAT) as tar:
        for name, data in meta.items():
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
        for blob in sorted(blobs.iterdir()):
            info = _info(f"blobs/sha256/{blob.name}", blob.stat().st_size)
            with blob.open("rb") as f:
                tar.addfile(info, f)
            count, size = count + 1, size + info.size
    partial.replace(out)
    return count, size


def _chosen(state: DesiredState, only: dict[str, str] | None) -> list[DesiredApp]:
    if only is None:
        return list(state.apps)
    placed = {a.name: a for a in state.apps}
    chosen = []
    for name, digest in only.items():
        app = placed.get(name)
        if app is None:
            raise BundleError(f"{name}@{digest}: site {state.site} runs no app {name!r} at {state.revision}")
        if app.digest != digest:
            raise BundleError(
                f"{name}@{digest}: at {state.revision} site {state.site} runs {name} at {app.digest}; "
                "a bundle carries what Git says (commit the digest first)"
            )
        chosen.append(app)
    return chosen


async def _pull(
    app: DesiredApp, client: RegistryClient, blobs: Path, report: ExportReport
) -> list[IndexEntry]:
    """Every blob of the app's image, its signature and its attestations, into ``blobs``."""
    repo, digest = app.repository, app.digest
    body, media_type = await client.get_manifest(repo, digest)
    (blobs / digest.split(":", 1)[1]).write_bytes(body)
    config, layers = read_manifest_descriptors(body)
    for desc in (config, *layers):
        dest = blobs / desc.digest.split(":", 1)[1]
        if not dest.exists():
            await client.fetch_blob(repo, desc.digest, dest, size=desc.size)
    notes = ((REGISTRY_ANNOTATION, app.registry), (APP_ANNOTATION, app.name))
    entries = [IndexEntry(f"{repo}@{digest}", digest, len(body), media_type, notes)]
    for tag in (signature_tag(digest), attestation_tag(digest)):
        found = await client.find_manifest(repo, tag)
        if found is None:
            continue
        side, side_type = found
        side_digest = sha256_bytes(side)
        (blobs / side_digest.split(":", 1)[1]).write_bytes(side)
        for blob_digest in _side_blobs(side):
            data = await client.get_blob_bytes(repo, blob_digest, limit=MAX_SIDE_BLOB)
            (blobs / blob_digest.split(":", 1)[1]).write_bytes(data)
        entries.append(IndexEntry(f"{repo}:{tag}", side_digest, len(side), side_type, notes))
        if tag.endswith(".sig"):
            report.signatures += 1
        else:
            report.attestations += 1
    return entries


def _side_blobs(manifest: bytes) -> list[str]:
    """The config and layer digests of a signature or attestation image."""
    try:
        doc: Any = json.loads(manifest)
        found = [doc["config"]["digest"], *(layer["digest"] for layer in doc.get("layers", []))]
        return [check_digest(d) for d in found]
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"a signature or attestation manifest is malformed: {e}") from e


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info
