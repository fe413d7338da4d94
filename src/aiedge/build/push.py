"""Pushing a packed image: each blob unless the registry has it, then the manifest by digest and tag."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiedge.build.pack import PackedImage
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


async def push_image(
    client: RegistryClient,
    ref: ImageReference,
    image: PackedImage,
    *,
    progress: Callable[[int], None] | None = None,
) -> PushReport:
    """Blobs first (layers, then config), the manifest last, so a tag never points at a hole."""
    sent = skipped = n_sent = n_skipped = 0
    for digest, path, size in image.blobs():
        if await client.push_blob(ref.repository, digest, path, progress=progress):
            sent, n_sent = sent + size, n_sent + 1
        else:
            skipped, n_skipped = skipped + size, n_skipped + 1
            if progress:
                progress(size)
    digest = await client.push_manifest(ref.repository, image.manifest, MANIFEST_MEDIA_TYPE, tag=ref.tag)
    return PushReport(digest, sent, skipped, n_sent, n_skipped)
