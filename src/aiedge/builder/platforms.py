"""``--base`` on a multi-platform base: the model stacked on every platform the base's index
offers, and the result pushed as an index of those images.

Each platform's image is what ``pack`` makes on that platform's base; the model layers are the
same bytes on every platform (reproducible packing), so the registry stores them once. Same
inputs give the same digest per platform, and so the same index.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aiedge.builder.pack import ImageMeta, PackedImage, pack
from aiedge.builder.push import PushReport, push_image
from aiedge.builder.stack import BaseImages
from aiedge.oci.digest import sha256_bytes
from aiedge.oci.manifest import build_index, manifest_descriptor, rfc3339
from aiedge.oci.platform import INDEX_MEDIA_TYPE
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


@dataclass(frozen=True)
class PackedIndex:
    images: list[PackedImage]  # one per platform, in the base index's order
    index: bytes

    @property
    def digest(self) -> str:
        return sha256_bytes(self.index)


def pack_platforms(
    model: Path,
    meta: ImageMeta,
    workdir: Path,
    bases: BaseImages,
    progress: Callable[[int], None] | None = None,
    extra: Sequence[tuple[str, Path]] = (),
) -> PackedIndex:
    """``pack`` on each platform's base (``workdir/blobs-ARCH``), and the index over them."""
    images = []
    for base in bases.images:
        folder = "-".join(("blobs", base.platform.architecture, base.platform.variant)).rstrip("-")
        images.append(pack(model, meta, workdir / folder, base, progress, extra))
    entries = [
        manifest_descriptor(image.manifest, base.platform)
        for image, base in zip(images, bases.images, strict=True)
    ]
    annotations = {
        "org.opencontainers.image.created": rfc3339(meta.created),
        "org.opencontainers.image.title": meta.name,
        "org.opencontainers.image.base.name": f"{bases.ref.registry}/{bases.ref.repository}",
        "org.opencontainers.image.base.digest": str(bases.ref.digest),
    }
    return PackedIndex(images, build_index(entries, annotations))


async def push_platforms(
    client: RegistryClient,
    ref: ImageReference,
    packed: PackedIndex,
    *,
    progress: Callable[[int], None] | None = None,
    base_client: RegistryClient | None = None,
) -> PushReport:
    """Every platform's image by digest, then the index under ``ref``'s tag (a tag never points at
    a hole); the report counts every blob of every platform."""
    untagged = replace(ref, tag=None)
    reports = [
        await push_image(client, untagged, image, progress=progress, base_client=base_client)
        for image in packed.images
    ]
    digest = await client.push_manifest(ref.repository, packed.index, INDEX_MEDIA_TYPE, tag=ref.tag)
    return PushReport(
        digest,
        sum(r.bytes_sent for r in reports),
        sum(r.bytes_skipped for r in reports),
        sum(r.blobs_sent for r in reports),
        sum(r.blobs_skipped for r in reports),
        sum(r.blobs_mounted for r in reports),
    )
