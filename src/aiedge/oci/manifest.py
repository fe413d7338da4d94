"""Writing OCI image config, manifest and index documents (canonical JSON: sorted keys, no spaces).

Configs carry ``architecture``/``os``/``rootfs.diff_ids`` so skopeo, umoci and podman accept
them; manifests are ``application/vnd.oci.image.manifest.v1+json``; an image index
(``application/vnd.oci.image.index.v1+json``) lists one manifest per platform. Reading and
choosing from an index is ``oci/platform.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiedge.oci.digest import sha256_bytes
from aiedge.oci.image import CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from aiedge.oci.platform import INDEX_MEDIA_TYPE, Platform


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)
    platform: Platform | None = None  # set on the entries of an image index

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        if self.platform is not None:
            doc["platform"] = self.platform.to_json()
        return doc


def canonical_json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def rfc3339(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_config(
    *,
    labels: dict[str, str],
    diff_ids: list[str],
    created: int,
    architecture: str = "amd64",
    os: str = "linux",
) -> bytes:
    """The image config blob: no entrypoint (the image carries a model, ``aiedge serve`` runs it)."""
    return canonical_json(
        {
            "architecture": architecture,
            "os": os,
            "created": rfc3339(created),
            "config": {"Labels": dict(labels)},
            "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
            "history": [{"created": rfc3339(created), "created_by": "aiedge build"}],
        }
    )


def config_descriptor(config: bytes) -> Descriptor:
    return Descriptor(CONFIG_MEDIA_TYPE, sha256_bytes(config), len(config))


def layer_descriptor(digest: str, size: int, annotations: dict[str, str] | None = None) -> Descriptor:
    return Descriptor(LAYER_MEDIA_TYPE, digest, size, annotations or {})


def build_manifest(config: Descriptor, layers: list[Descriptor], annotations: dict[str, str]) -> bytes:
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)


def manifest_descriptor(manifest: bytes, platform: Platform) -> Descriptor:
    """An index entry: the manifest ``manifest`` for ``platform``."""
    return Descriptor(MANIFEST_MEDIA_TYPE, sha256_bytes(manifest), len(manifest), platform=platform)


def build_index(manifests: list[Descriptor], annotations: dict[str, str] | None = None) -> bytes:
    """An image index over per-platform manifests, entries sorted by platform so that the same
    images give the same index digest whatever order they were built in."""
    if any(m.platform is None for m in manifests):
        raise ValueError("every entry of an image index needs a platform")
    ordered = sorted(manifests, key=lambda m: m.platform or Platform("", ""))
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": INDEX_MEDIA_TYPE,
        "manifests": [m.to_json() for m in ordered],
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return canonical_json(doc)
