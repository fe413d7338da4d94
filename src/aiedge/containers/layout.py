"""OCI image layout folders (``oci-layout``, ``index.json``, ``blobs/sha256/``): what
``aiedge base build`` writes, what ``skopeo``/``podman`` read with the ``oci:`` transport, and
how the agent hands an image from its blob cache to podman without copying a byte.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from aiedge.containers.errors import ContainerError
from aiedge.oci.digest import sha256_bytes, sha256_file
from aiedge.oci.image import MANIFEST_MEDIA_TYPE, read_manifest_layers
from aiedge.oci.manifest import canonical_json

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


def write_layout(layout: Path, manifest: bytes, blobs: list[Path], *, tag: str) -> LayoutImage:
    """Write (or add to) ``layout``: ``blobs`` are files named anything, moved in by their digest
    (computed here); ``index.json`` lists the manifest under ``tag``, replacing an older one."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))
    for src in blobs:
        digest, _ = sha256_file(src)
        dst = _blob(layout, digest)
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)
    digest = sha256_bytes(manifest)
    _blob(layout, digest).write_bytes(manifest)
    _set_index(layout, digest, len(manifest), tag)
    return LayoutImage(layout, tag, digest)


def _set_index(layout: Path, digest: str, size: int, tag: str) -> None:
    index_path = layout / "index.json"
    entries = []
    if index_path.exists():
        entries = [
            m
            for m in json.loads(index_path.read_bytes()).get("manifests", [])
            if m.get("annotations", {}).get(REF_NAME) != tag
        ]
    entries.append(
        {"mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": size, "annotations": {REF_NAME: tag}}
    )
    entries.sort(key=lambda m: m["annotations"][REF_NAME])
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
    index_path.write_bytes(canonical_json(index))


def read_layout(layout: Path, tag: str | None = None) -> tuple[LayoutImage, bytes]:
    """The image tagged ``tag`` (or the only one) in ``layout``, and its manifest bytes."""
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
    manifest = _blob(layout, digest).read_bytes()
    if sha256_bytes(manifest) != digest:
        raise ContainerError(f"{layout}: manifest {digest[:19]} does not match its digest")
    name = found[0].get("annotations", {}).get(REF_NAME, "latest")
    return LayoutImage(layout, name, digest), manifest


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
