"""Pushing an image from an OCI layout folder to a registry: blobs the registry lacks, then the
manifest by digest and tag (so a tag never points at a hole)."""

from __future__ import annotations

from pathlib import Path

from aiedge.containers.layout import blob_paths, read_layout
from aiedge.oci.image import MANIFEST_MEDIA_TYPE
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


async def push_layout(
    layout: Path, ref: ImageReference, *, tag: str | None = None, insecure: bool | None = None
) -> str:
    """Push the image tagged ``tag`` (or the only one) in ``layout`` as ``ref``; returns its digest."""
    _image, manifest = read_layout(layout, tag)
    async with RegistryClient(ref.registry, insecure=insecure) as client:
        for digest, path in blob_paths(layout, manifest):
            await client.push_blob(ref.repository, digest, path)
        return await client.push_manifest(ref.repository, manifest, MANIFEST_MEDIA_TYPE, tag=ref.tag)
