"""OCI image layouts on disk (``index.json`` + ``blobs/sha256/<hex>``), read the way a registry
is read, so what verifies images against a registry (cosign signatures) verifies them offline.

:class:`LayoutSource` answers ``find_manifest`` / ``get_manifest`` / ``get_blob_bytes`` from a
blobs folder and the references an index names (``org.opencontainers.image.ref.name`` of each
entry: ``REPOSITORY@sha256:...`` or ``REPOSITORY:TAG``). Every blob read is checked against its
digest; nothing on disk is trusted for being there.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiedge.oci.digest import check_digest, sha256_bytes
from aiedge.oci.errors import DigestMismatch, ImageFormatError, NotFoundInRegistry
from aiedge.oci.image import MANIFEST_MEDIA_TYPE

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
MAX_INDEX_BYTES = 4 << 20


@dataclass(frozen=True)
class IndexEntry:
    ref: str  # REPOSITORY@DIGEST or REPOSITORY:TAG
    digest: str
    size: int
    media_type: str = MANIFEST_MEDIA_TYPE
    annotations: tuple[tuple[str, str], ...] = ()


def index_json(entries: Iterable[IndexEntry]) -> bytes:
    manifests = [
        {
            "mediaType": e.media_type,
            "digest": e.digest,
            "size": e.size,
            "annotations": {REF_NAME: e.ref, **dict(e.annotations)},
        }
        for e in sorted(entries, key=lambda e: e.ref)
    ]
    doc = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": manifests}
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def read_index(data: bytes, where: str) -> list[IndexEntry]:
    """The entries of an ``index.json`` that name a reference; a malformed one is an error."""
    if len(data) > MAX_INDEX_BYTES:
        raise ImageFormatError(f"{where}: over {MAX_INDEX_BYTES} bytes")
    try:
        doc: Any = json.loads(data)
        found = []
        for m in doc["manifests"]:
            ref = (m.get("annotations") or {}).get(REF_NAME)
            if not isinstance(ref, str):
                continue
            annotations = tuple(sorted((str(k), str(v)) for k, v in (m.get("annotations") or {}).items()))
            found.append(
                IndexEntry(
                    ref,
                    check_digest(m["digest"]),
                    int(m["size"]),
                    str(m.get("mediaType", MANIFEST_MEDIA_TYPE)),
                    tuple(a for a in annotations if a[0] != REF_NAME),
                )
            )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ImageFormatError(f"{where}: not an OCI image index ({e})") from e
    return found


class LayoutSource:
    """A registry's read side over blobs on disk. ``refs`` gives the references (``REPOSITORY:TAG``
    or ``REPOSITORY@DIGEST`` -> manifest digest); it is called on every lookup, so an index
    written since is seen."""

    def __init__(self, blobs: Callable[[str], Path | None], refs: Callable[[], dict[str, str]]) -> None:
        self._blobs = blobs
        self._refs = refs

    async def find_manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        sep = "@" if reference.startswith("sha256:") else ":"
        digest = self._refs().get(f"{repository}{sep}{reference}")
        if digest is None:
            if sep == ":":
                return None
            digest = reference
        try:
            body = self._read(digest, MAX_INDEX_BYTES)
        except NotFoundInRegistry:
            return None
        try:
            media_type = str(json.loads(body).get("mediaType") or MANIFEST_MEDIA_TYPE)
        except (ValueError, AttributeError):
            media_type = MANIFEST_MEDIA_TYPE
        return body, media_type

    async def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        found = await self.find_manifest(repository, reference)
        if found is None:
            raise NotFoundInRegistry(f"not in the bundle: {repository} {reference}")
        return found

    async def get_blob_bytes(self, repository: str, digest: str, *, limit: int = 4 << 20) -> bytes:
        return self._read(digest, limit)

    def _read(self, digest: str, limit: int) -> bytes:
        check_digest(digest)
        path = self._blobs(digest)
        if path is None:
            raise NotFoundInRegistry(f"blob {digest[:19]} is not in the bundle")
        with path.open("rb") as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise ImageFormatError(f"blob {digest[:19]} is over {limit} bytes")
        if sha256_bytes(data) != digest:
            raise DigestMismatch(f"blob {digest[:19]} has another digest on disk")
        return data
