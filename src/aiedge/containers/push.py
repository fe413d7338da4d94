"""Pushing an image from an OCI layout folder to a registry: blobs the registry lacks, then the
manifest by digest and tag (so a tag never points at a hole). A multi-platform tag pushes every
platform's image by digest first, then the image index under the tag."""

from __future__ import annotations

from pathlib import Path

from aiedge.containers.layout import blob_paths, read_platforms
from aiedge.oci.image import MANIFEST_MEDIA_TYPE
from aiedge.oci.platform import INDEX_MEDIA_TYPE
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


async def push_layout(
    layout: Path, ref: ImageReference, *, tag: str | None = None, insecure: bool | None = None
) -> str:
    """Push the image tagged ``tag`` (or the only one) in ``layout`` as ``ref``; returns its digest
    (the index's, for a multi-platform image)."""
    image, top, platforms = read_platforms(layout, tag)
    async with RegistryClient(ref.registry, insecure=insecure) as client:
        for one in platforms:
            for digest, path in blob_paths(layout, one.manifest):
                await client.push_blob(ref.repository, digest, path)
            if one.digest == image.digest:
                return await client.push_manifest(
                    ref.repository, one.manifest, MANIFEST_MEDIA_TYPE, tag=ref.tag
                )
            await client.push_manifest(ref.repository, one.manifest, MANIFEST_MEDIA_TYPE)
        return await client.push_manifest(ref.repository, top, INDEX_MEDIA_TYPE, tag=ref.tag)
