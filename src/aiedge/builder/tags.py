"""More names for a pushed image (``build --image A --image B --image C``, as the seed's pipeline
pushes three tags): the image is pushed once, to the first ``--image``; every other name gets the
same manifest, byte for byte, so all of them resolve to one digest.

In the same repository a tag is one manifest PUT. In another repository of the same registry the
blobs are mounted (no bytes move); in another registry they are copied. An image index is copied
with the manifests it lists. The image is read back from the registry by digest, so this works
for whatever the push wrote (a manifest or an index).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiedge.builder.errors import BuildError
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient

_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)

ClientFor = Callable[[str], Awaitable[RegistryClient]]


def check_extra_images(first: ImageReference, extra: tuple[ImageReference, ...]) -> None:
    """Before any work: every name is REGISTRY/REPO[:TAG] without a digest, and none repeats."""
    seen = {str(first)}
    for ref in extra:
        if ref.digest:
            raise BuildError(f"--image {ref}: give REGISTRY/REPO[:TAG]; the digest is what the build makes")
        if str(ref) in seen:
            raise BuildError(f"--image {ref} is given twice")
        seen.add(str(ref))


async def tag_image(
    source_client: RegistryClient,
    source: ImageReference,
    target_client: RegistryClient,
    target: ImageReference,
) -> None:
    """Make ``target`` name the image ``source`` (pinned by digest) names."""
    assert source.digest is not None
    same_repo = target_client is source_client and target.repository == source.repository
    if not same_repo:
        await _copy_manifest(
            source_client, source.repository, target_client, target.repository, source.digest
        )
    body, media_type = await source_client.get_manifest(source.repository, source.digest)
    await target_client.push_manifest(target.repository, body, media_type, tag=target.tag)


async def _copy_manifest(
    src: RegistryClient, src_repo: str, dst: RegistryClient, dst_repo: str, digest: str, depth: int = 0
) -> None:
    if depth > 1:
        raise BuildError(f"{src.registry}/{src_repo}@{digest}: an index nested in an index")
    body, media_type = await src.get_manifest(src_repo, digest)
    doc = json.loads(body)
    if media_type in _INDEX_TYPES or doc.get("mediaType") in _INDEX_TYPES:
        for child in doc.get("manifests", []):
            await _copy_manifest(src, src_repo, dst, dst_repo, str(child["digest"]), depth + 1)
    else:
        blobs = [doc["config"], *doc.get("layers", [])]
        for blob in blobs:
            await _copy_blob(src, src_repo, dst, dst_repo, str(blob["digest"]))
    await dst.push_manifest(dst_repo, body, media_type)


async def _copy_blob(
    src: RegistryClient, src_repo: str, dst: RegistryClient, dst_repo: str, digest: str
) -> None:
    if await dst.blob_exists(dst_repo, digest):
        return
    if dst is src and await dst.mount_blob(dst_repo, digest, src_repo):
        return
    with tempfile.TemporaryDirectory(prefix="aiedge-blob-") as tmp:
        path = Path(tmp) / "blob"
        await src.fetch_blob(src_repo, digest, path)
        await dst.upload_blob(dst_repo, digest, path)
