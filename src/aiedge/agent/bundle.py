"""Offline bundles at the site (:mod:`aiedge.contracts.bundle`): ``aiedge agent import FILE``
verifies a bundle and hands it to the agent, with no hub and no registry reachable.

Verified before anything is applied: the hub's ed25519 signature over the desired state (the
key learned at enrolment, ``DATA/hub-key.pub``, or ``--hub-key FILE``), that the state is for this
site, every blob's digest as it is read, that every image of the state is complete (manifest,
config, layers), and with ``--verify-key`` each image's cosign signature from the bundle itself.
The tar is hostile input: only the names of a bundle, only regular files, bounded counts and
sizes, and room on the disk checked first.

Then the blobs move into the agent's cache and ``DATA/import/bundle.json`` (the signed state) is
written in one rename; the agent, running or started later, checks the signature again and
applies it like a desired state from the hub. The hub stays the authority: when it is reached
again, its desired state wins.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from aiedge.agent.errors import BundleInvalid, InsufficientDisk, SignatureInvalid
from aiedge.agent.progress import format_bytes
from aiedge.agent.settings import AgentSettings
from aiedge.contracts import DesiredState
from aiedge.contracts.bundle import BUNDLE_DESIRED, BUNDLE_SIGNATURE, BundleSignature
from aiedge.errors import AiedgeError
from aiedge.oci.cosign import verify_signature
from aiedge.oci.digest import CHUNK, sha256_bytes, sha256_file
from aiedge.oci.errors import ImageFormatError
from aiedge.oci.extract import free_bytes
from aiedge.oci.image import read_manifest_descriptors
from aiedge.oci.layout import LAYOUT_FILE, IndexEntry, LayoutSource, index_json, read_index
from aiedge.oci.reference import ImageReference

_BLOB = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_META = {LAYOUT_FILE: 1 << 10, BUNDLE_DESIRED: 16 << 20, BUNDLE_SIGNATURE: 64 << 10, "index.json": 4 << 20}
MAX_MEMBERS = 100_000
IMPORTED = "bundle.json"
INDEX = "index.json"


@dataclass
class ImportReport:
    site: str
    revision: str
    digest: str
    apps: list[tuple[str, str]] = field(default_factory=list)
    blobs: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        apps = ", ".join(f"{n}@{d[:19]}" for n, d in self.apps) or "no apps"
        return (
            f"imported {self.revision} for site {self.site} ({apps}): {self.blobs} blobs, "
            f"{format_bytes(self.bytes)}, verified in {self.seconds:.1f}s; "
            "the agent applies it on its next pass"
        )


def hub_public_key(settings: AgentSettings) -> Ed25519PublicKey:
    """The key bundles must be signed with: ``--hub-key`` or the one kept at enrolment."""
    path = settings.hub_key or settings.learned_hub_key_file
    try:
        pem = path.read_bytes()
    except OSError as e:
        hint = "" if settings.hub_key else " (the agent keeps it at enrolment; or pass --hub-key FILE)"
        raise BundleInvalid(f"no hub key to check bundles with: {path}: {e.strerror or e}{hint}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as e:
        raise BundleInvalid(f"{path}: not a PEM public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise BundleInvalid(f"{path}: not an ed25519 public key (the hub's hub-signing.pub)")
    return key


def verify_desired(desired: bytes, signature: bytes, key: Ed25519PublicKey, site: str) -> DesiredState:
    """The desired state, if the hub's key signed exactly these bytes and it is for ``site``."""
    try:
        sig = BundleSignature.model_validate_json(signature)
        raw = base64.b64decode(sig.signature, validate=True)
        key.verify(raw, desired)
    except (ValidationError, binascii.Error, ValueError, InvalidSignature):
        raise BundleInvalid(
            "the desired state is not signed by this hub's key (damaged, or from another hub)"
        ) from None
    try:
        state = DesiredState.model_validate_json(desired)
    except ValidationError as e:
        raise BundleInvalid(f"{BUNDLE_DESIRED}: not a desired state ({e.error_count()} errors)") from None
    if state.site != site or sig.site != site:
        raise BundleInvalid(f"the bundle is for site {state.site!r}; this agent is site {site!r}")
    return state


def read_imported(settings: AgentSettings) -> tuple[DesiredState, int] | None:
    """The last imported desired state (verified again) and its file's mtime, or None."""
    path = settings.import_dir / IMPORTED
    try:
        stamp = path.stat().st_mtime_ns
        doc = json.loads(path.read_bytes())
        desired, signature = doc["desired"].encode(), json.dumps(doc["signature"]).encode()
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise BundleInvalid(f"{path}: unreadable ({e}); import the bundle again") from None
    return verify_desired(desired, signature, hub_public_key(settings), settings.site), stamp


def local_refs(settings: AgentSettings) -> dict[str, str]:
    """References (``REPOSITORY:TAG``, ``REPOSITORY@DIGEST``) of every imported bundle."""
    try:
        data = (settings.import_dir / INDEX).read_bytes()
    except OSError:
        return {}
    try:
        return {e.ref: e.digest for e in read_index(data, str(settings.import_dir / INDEX))}
    except ImageFormatError:
        return {}


def local_source(settings: AgentSettings, *extra: Path) -> LayoutSource:
    """Signatures and manifests as the agent holds them: its cache (and ``extra`` folders)."""

    def blob(digest: str) -> Path | None:
        hex_ = digest.split(":", 1)[1]
        for folder in (*extra, settings.blobs_dir):
            if (folder / hex_).is_file():
                return folder / hex_
        return None

    return LayoutSource(blob, lambda: local_refs(settings))


async def import_bundle(
    bundle: Path, settings: AgentSettings, keys: Sequence[tuple[str, bytes]] = ()
) -> ImportReport:
    """Verify ``bundle`` completely, then hand it to the agent (see the module docstring)."""
    started = time.monotonic()
    key = hub_public_key(settings)
    staging = settings.import_dir / f"staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        meta, blobs = _read_tar(bundle, staging, settings)
        for name in (LAYOUT_FILE, BUNDLE_DESIRED, BUNDLE_SIGNATURE, INDEX):
            if name not in meta:
                raise BundleInvalid(f"{bundle}: not an aiedge bundle (no {name})")
        state = verify_desired(meta[BUNDLE_DESIRED], meta[BUNDLE_SIGNATURE], key, settings.site)
        entries = read_index(meta[INDEX], f"{bundle}: index.json")
        source = LayoutSource(
            lambda d: _find(d, staging, settings), lambda: {e.ref: e.digest for e in entries}
        )
        report = ImportReport(state.site, state.revision, state.digest, blobs=len(blobs), bytes=sum(blobs))
        for app in state.apps:
            _check_complete(app.name, app.digest, staging, settings)
            if keys:
                await _check_signed(source, app.image, keys)
            report.apps.append((app.name, app.digest))
        _commit(staging, settings, meta, entries)
    except (OSError, tarfile.TarError) as e:
        raise BundleInvalid(f"{bundle}: cannot read it as a bundle: {e}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.monotonic() - started
    return report


def _read_tar(bundle: Path, staging: Path, settings: AgentSettings) -> tuple[dict[str, bytes], list[int]]:
    size = bundle.stat().st_size
    free = free_bytes(staging)
    if free < size + settings.disk_reserve:
        raise InsufficientDisk(
            f"{bundle}: needs about {format_bytes(size + settings.disk_reserve)} free under "
            f"{settings.data} (the bundle and a {format_bytes(settings.disk_reserve)} reserve); "
            f"{format_bytes(free)} free"
        )
    meta: dict[str, bytes] = {}
    blobs: list[int] = []
    with tarfile.open(bundle, "r:") as tar:
        for count, member in enumerate(tar, 1):
            if count > MAX_MEMBERS:
                raise BundleInvalid(f"{bundle}: over {MAX_MEMBERS} entries")
            if member.isdir() and member.name.rstrip("/") in ("blobs", "blobs/sha256", "aiedge"):
                continue
            if not member.isreg():
                raise BundleInvalid(f"{bundle}: {member.name!r} is not a regular file (links are refused)")
            m = _BLOB.fullmatch(member.name)
            limit = _META.get(member.name)
            if m is None and limit is None:
                raise BundleInvalid(f"{bundle}: unexpected entry {member.name[:120]!r}")
            f = tar.extractfile(member)
            assert f is not None
            if limit is not None:
                if member.size > limit or member.name in meta:
                    raise BundleInvalid(f"{bundle}: {member.name} is over {limit} bytes or given twice")
                meta[member.name] = f.read(limit + 1)
                continue
            assert m is not None
            blobs.append(_stage_blob(f, staging / m.group(1), "sha256:" + m.group(1), bundle))
    return meta, blobs


def _stage_blob(f: IO[bytes], dest: Path, digest: str, bundle: Path) -> int:
    h, size = hashlib.sha256(), 0
    with dest.open("wb") as out:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if "sha256:" + h.hexdigest() != digest:
        raise BundleInvalid(f"{bundle}: blob {digest[:19]} has another digest: the bundle is damaged")
    return size


def _find(digest: str, staging: Path, settings: AgentSettings) -> Path | None:
    hex_ = digest.split(":", 1)[1]
    for folder in (staging, settings.blobs_dir):
        if (folder / hex_).is_file():
            return folder / hex_
    return None


def _check_complete(app: str, digest: str, staging: Path, settings: AgentSettings) -> None:
    """Every blob of the image is in the bundle or already in the cache (and verified)."""
    path = _find(digest, staging, settings)
    if path is None:
        raise BundleInvalid(f"app {app}: the bundle holds no manifest {digest[:19]}")
    body = path.read_bytes()
    if sha256_bytes(body) != digest:
        raise BundleInvalid(f"app {app}: manifest {digest[:19]} has another digest")
    try:
        config, layers = read_manifest_descriptors(body)
    except AiedgeError as e:
        raise BundleInvalid(f"app {app}: {digest[:19]}: {e}") from None
    for desc in (config, *layers):
        found = _find(desc.digest, staging, settings)
        if found is None:
            raise BundleInvalid(f"app {app}: the bundle lacks blob {desc.digest[:19]} of {digest[:19]}")
        if found.parent == settings.blobs_dir and sha256_file(found)[0] != desc.digest:
            raise BundleInvalid(f"app {app}: cached blob {desc.digest[:19]} is damaged; remove it")


async def _check_signed(source: LayoutSource, image: str, keys: Sequence[tuple[str, bytes]]) -> None:
    """The image's cosign signature, read from the bundle, verifies with one of ``keys``."""
    registry, rest = image.split("/", 1)
    repository, digest = rest.split("@", 1)
    ref = ImageReference(registry, repository, digest=digest)
    refusals = []
    for name, pem in keys:
        try:
            await verify_signature(source, ref, pem)
            return
        except AiedgeError as e:  # SignatureError, a damaged or missing signature image
            refusals.append(f"{name}: {e}")
    raise SignatureInvalid(f"{image}: not signed by a trusted key ({'; '.join(refusals)})")


def _commit(
    staging: Path, settings: AgentSettings, meta: dict[str, bytes], entries: list[IndexEntry]
) -> None:
    settings.blobs_dir.mkdir(parents=True, exist_ok=True)
    for blob in staging.iterdir():
        blob.replace(settings.blobs_dir / blob.name)
    known = {e.ref: e for e in _existing(settings)}
    known.update({e.ref: e for e in entries})
    _atomic(settings.import_dir / INDEX, index_json(known.values()))
    doc = {"desired": meta[BUNDLE_DESIRED].decode(), "signature": json.loads(meta[BUNDLE_SIGNATURE])}
    _atomic(settings.import_dir / IMPORTED, json.dumps(doc).encode())


def _existing(settings: AgentSettings) -> list[IndexEntry]:
    try:
        return read_index((settings.import_dir / INDEX).read_bytes(), "index.json")
    except (OSError, ImageFormatError):
        return []


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
