"""OCI image layout folders (``oci-layout``, ``index.json``, ``blobs/sha256/``): what
``aiedge base build`` writes, what ``skopeo``/``podman`` read with the ``oci:`` transport, and
how the agent hands an image from its blob cache to podman without copying a byte.

A tag names either one image's manifest or an image index over per-platform manifests (a
multi-platform base); :func:`read_platforms` gives the images either way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge.containers.errors import ContainerError
from aiedge.oci.digest import sha256_bytes, sha256_file
from aiedge.oci.errors import OciError
from aiedge.oci.image import MANIFEST_MEDIA_TYPE, read_manifest_layers
from aiedge.oci.manifest import canonical_json
from aiedge.oci.platform import INDEX_MEDIA_TYPES, IndexEntry, Platform, is_index, pick_platform, read_index

REF_NAME = "org.opencontainers.image.ref.name"


@dataclass(frozen=True)
class LayoutImage:
    """One image in a layout folder: ``oci:PATH:TAG`` in skopeo's and podman's words."""

    path: Path
    tag: str
    digest: str  # of the manifest

    @property
    def transport_ref(self) -> str:
        return f"oci:{self.path}:{self.tag}"


def _blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def add_image(layout: Path, manifest: bytes, blobs: list[Path]) -> str:
    """Put ``blobs`` (files named anything, copied in by their digest, computed here) and
    ``manifest`` into ``layout`` without tagging it; returns the manifest's digest."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    for src in blobs:
        digest, _ = sha256_file(src)
        dst = _blob(layout, digest)
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
    digest = sha256_bytes(manifest)
    _blob(layout, digest).write_bytes(manifest)
    return digest


def write_layout(
    layout: Path, manifest: bytes, blobs: list[Path], *, tag: str, media_type: str = MANIFEST_MEDIA_TYPE
) -> LayoutImage:
    """Write (or add to) ``layout`` as :func:`add_image` does; ``index.json`` lists the manifest
    (or, with an index ``media_type``, the image index) under ``tag``, replacing an older one."""
    digest = add_image(layout, manifest, blobs)
    _set_index(layout, digest, len(manifest), tag, media_type)
    return LayoutImage(layout, tag, digest)


def _set_index(layout: Path, digest: str, size: int, tag: str, media_type: str = MANIFEST_MEDIA_TYPE) -> None:
    index_path = layout / "index.json"
    entries = []
    if index_path.exists():
        entries = [
            m
            for m in json.loads(index_path.read_bytes()).get("manifests", [])
            if m.get("annotations", {}).get(REF_NAME) != tag
        ]
    entries.append({"mediaType": media_type, "digest": digest, "size": size, "annotations": {REF_NAME: tag}})
    entries.sort(key=lambda m: m["annotations"][REF_NAME])
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    index_path.write_bytes(canonical_json(index))


def read_layout(layout: Path, tag: str | None = None) -> tuple[LayoutImage, bytes]:
    """The image tagged ``tag`` (or the only one) in ``layout``, and its manifest bytes (an image
    index's, for a multi-platform tag: see :func:`read_platforms`)."""
    try:
        index = json.loads((layout / "index.json").read_bytes())
    except (OSError, ValueError) as e:
        raise ContainerError(f"{layout}: not an OCI image layout: {e}") from e
    found = [
        m for m in index.get("manifests", []) if tag is None or m.get("annotations", {}).get(REF_NAME) == tag
    ]
    if len(found) != 1:
        raise ContainerError(f"{layout}: {len(found)} images tagged {tag!r}; expected exactly one")
    digest = found[0]["digest"]
    name = found[0].get("annotations", {}).get(REF_NAME, "latest")
    return LayoutImage(layout, name, digest), _read_blob(layout, digest)


def _read_blob(layout: Path, digest: str) -> bytes:
    try:
        data = _blob(layout, digest).read_bytes()
    except OSError as e:
        raise ContainerError(f"{layout}: blob {digest[:19]} is missing: {e}") from e
    if sha256_bytes(data) != digest:
        raise ContainerError(f"{layout}: blob {digest[:19]} does not match its digest")
    return data


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise ContainerError(f"{what}: not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ContainerError(f"{what}: not a JSON object")
    return doc


@dataclass(frozen=True)
class PlatformManifest:
    platform: Platform
    digest: str
    manifest: bytes


def read_platforms(layout: Path, tag: str | None = None) -> tuple[LayoutImage, bytes, list[PlatformManifest]]:
    """The tagged image (its manifest or index bytes) and its per-platform manifests: an index's
    entries, or the one manifest with the platform its config names."""
    image, top = read_layout(layout, tag)
    doc = _json(top, f"{layout}: {image.digest[:19]}")
    try:
        if is_index(str(doc.get("mediaType", "")), doc):
            out = []
            for entry in read_index(doc, f"{layout}: image index"):
                if entry.platform is None or entry.media_type in INDEX_MEDIA_TYPES:
                    continue  # attestations and nested indexes are not images to run
                out.append(PlatformManifest(entry.platform, entry.digest, _read_blob(layout, entry.digest)))
            return image, top, out
        config_digest, _ = read_manifest_layers(top)
        config = _json(_read_blob(layout, config_digest), f"{layout}: config")
        platform = Platform.from_json(config, f"{layout}: config")
    except OciError as e:
        raise ContainerError(f"{layout}: {e}") from e
    return image, top, [PlatformManifest(platform, image.digest, top)]


def read_platform(layout: Path, platform: Platform, tag: str | None = None) -> PlatformManifest:
    """The manifest for ``platform`` in the tagged image; ``NoMatchingPlatform`` names the others."""
    _, _, found = read_platforms(layout, tag)
    by_digest = {m.digest: m for m in found}
    entries = [IndexEntry(m.digest, len(m.manifest), MANIFEST_MEDIA_TYPE, m.platform) for m in found]
    return by_digest[pick_platform(entries, platform, str(layout)).digest]


def blob_paths(layout: Path, manifest: bytes) -> list[tuple[str, Path]]:
    """(digest, file) of the config and every layer of ``manifest``, layers first."""
    config, layers = read_manifest_layers(manifest)
    return [(d, _blob(layout, d)) for d in [*layers, config]]


def link_layout(layout: Path, blobs_dir: Path, manifest_digest: str, *, tag: str) -> LayoutImage:
    """A layout whose ``blobs/sha256`` is a link to ``blobs_dir`` (the agent's content-addressed
    cache, same naming), so podman reads the cached, verified blobs in place."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "blobs").mkdir(exist_ok=True)
    link = layout / "blobs" / "sha256"
    if not link.is_symlink():
        if link.exists():
            shutil.rmtree(link)
        link.symlink_to(blobs_dir.resolve())
    (layout / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    size = _blob(layout, manifest_digest).stat().st_size
    _set_index(layout, manifest_digest, size, tag)
    return LayoutImage(layout, tag, manifest_digest)
