"""Pushing a packed image: each blob unless the registry has it, then the manifest by digest and tag.

A base image's layers (``--base``) are mounted from the base's repository when it lives in the
same registry (no bytes move); from another registry they are copied through a temporary file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiedge.builder.pack import PackedImage
from aiedge.oci.image import MANIFEST_MEDIA_TYPE
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


@dataclass(frozen=True)
class PushReport:
    digest: str
    bytes_sent: int
    bytes_skipped: int
    blobs_sent: int
    blobs_skipped: int
    blobs_mounted: int = 0  # base layers linked from the base's repository (counted in skipped too)


async def push_image(
    client: RegistryClient,
    ref: ImageReference,
    image: PackedImage,
    *,
    progress: Callable[[int], None] | None = None,
    base_client: RegistryClient | None = None,
) -> PushReport:
    """Blobs first (base layers, model layers, then config), the manifest last, so a tag never
    points at a hole. ``base_client`` reads the base image when it is in another registry."""
    sent = skipped = n_sent = n_skipped = n_mounted = 0
    if image.base is not None:
        base = image.base.ref
        same = base.registry == client.registry
        for layer in image.base.layers:
            if await client.blob_exists(ref.repository, layer.digest):
                ok, mounted = False, False
            elif same and base.repository != ref.repository:
                mounted = await client.mount_blob(ref.repository, layer.digest, base.repository)
                ok = not mounted
            else:
                ok, mounted = True, False
            if ok:
                await _copy(base_client or client, base.repository, client, ref.repository, layer.digest)
                sent, n_sent = sent + layer.size, n_sent + 1
            else:
                skipped, n_skipped, n_mounted = skipped + layer.size, n_skipped + 1, n_mounted + mounted
            if progress:
                progress(layer.size)
    for digest, path, size in image.blobs():
        if await client.push_blob(ref.repository, digest, path, progress=progress):
            sent, n_sent = sent + size, n_sent + 1
        else:
            skipped, n_skipped = skipped + size, n_skipped + 1
            if progress:
                progress(size)
    digest = await client.push_manifest(ref.repository, image.manifest, MANIFEST_MEDIA_TYPE, tag=ref.tag)
    return PushReport(digest, sent, skipped, n_sent, n_skipped, n_mounted)


async def _copy(
    source: RegistryClient, source_repo: str, target: RegistryClient, target_repo: str, digest: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="aiedge-blob-") as tmp:
        path = Path(tmp) / "blob"
        await source.fetch_blob(source_repo, digest, path)
        await target.upload_blob(target_repo, digest, path)
