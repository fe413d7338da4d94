"""OCI image layout folders: written, read back, linked to a blob cache, and accepted by skopeo; a
multi-platform tag (an image index) read per platform, refused for a platform it lacks, and pushed
to a real registry as its images then the index."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aiedge.containers.layout import (
    add_image,
    blob_paths,
    link_layout,
    read_layout,
    read_platform,
    read_platforms,
    write_layout,
)
from aiedge.containers.push import push_layout
from aiedge.oci.layers import LayerEntry, write_layer
from aiedge.oci.manifest import (
    build_config,
    build_index,
    build_manifest,
    config_descriptor,
    layer_descriptor,
    manifest_descriptor,
)
from aiedge.oci.platform import AMD64, ARM64, INDEX_MEDIA_TYPE, NoMatchingPlatform, Platform, parse_index
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient


def _image(tmp_path: Path, architecture: str = "amd64") -> tuple[bytes, list[Path]]:
    (tmp_path / "f.txt").write_text("hello")
    layer = write_layer([LayerEntry("data/f.txt", tmp_path / "f.txt")], tmp_path / "l.tgz", mtime=0)
    config = build_config(labels={"a": "b"}, diff_ids=[layer.diff_id], created=0, architecture=architecture)
    (tmp_path / f"c-{architecture}.json").write_bytes(config)
    manifest = build_manifest(config_descriptor(config), [layer_descriptor(layer.digest, layer.size)], {})
    return manifest, [layer.path, tmp_path / f"c-{architecture}.json"]


def test_write_read_and_retag(tmp_path: Path) -> None:
    manifest, blobs = _image(tmp_path)
    out = tmp_path / "layout"
    image = write_layout(out, manifest, blobs, tag="v1")
    write_layout(out, manifest, blobs, tag="v1")  # again: still one entry
    assert json.loads((out / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    again, body = read_layout(out, "v1")
    assert again == image and body == manifest
    assert all(p.is_file() for _, p in blob_paths(out, manifest))
    assert len(json.loads((out / "index.json").read_text())["manifests"]) == 1
    assert image.transport_ref == f"oci:{out}:v1"


def test_linked_layout_reads_the_cache(tmp_path: Path) -> None:
    manifest, blobs = _image(tmp_path)
    cache_layout = tmp_path / "cache"
    image = write_layout(cache_layout, manifest, blobs, tag="x")
    linked = link_layout(tmp_path / "linked", cache_layout / "blobs" / "sha256", image.digest, tag="y")
    assert read_layout(linked.path, "y")[1] == manifest
    if shutil.which("skopeo") is None:
        pytest.fail("skopeo is not installed: ./dev test installs it (apt-get install skopeo)", pytrace=False)
    out = subprocess.run(
        ["skopeo", "inspect", linked.transport_ref], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["Labels"] == {"a": "b"}


def _two_platforms(tmp_path: Path) -> tuple[Path, bytes, bytes]:
    out = tmp_path / "multi"
    amd, amd_blobs = _image(tmp_path, "amd64")
    arm, arm_blobs = _image(tmp_path, "arm64")
    add_image(out, amd, amd_blobs)
    add_image(out, arm, arm_blobs)
    index = build_index([manifest_descriptor(amd, AMD64), manifest_descriptor(arm, ARM64)])
    write_layout(out, index, [], tag="v1", media_type=INDEX_MEDIA_TYPE)
    return out, amd, arm


def test_an_index_tag_reads_per_platform(tmp_path: Path) -> None:
    out, amd, arm = _two_platforms(tmp_path)
    _, _, found = read_platforms(out, "v1")
    assert [(m.platform, m.manifest) for m in found] == [(AMD64, amd), (ARM64, arm)]
    assert read_platform(out, ARM64).manifest == arm
    with pytest.raises(
        NoMatchingPlatform, match="has no linux/s390x image; it offers linux/amd64, linux/arm64"
    ):
        read_platform(out, Platform("linux", "s390x"))
    # a one-image tag is its own platform, as its config says
    single = tmp_path / "single"
    write_layout(single, arm, [tmp_path / "l.tgz", tmp_path / "c-arm64.json"], tag="x")
    assert [m.platform for m in read_platforms(single)[2]] == [ARM64]


def test_an_index_pushes_its_images_then_itself(tmp_path: Path, registry: str) -> None:
    out, _, arm = _two_platforms(tmp_path)
    ref = ImageReference.parse(f"{registry}/multi/test:v1")

    async def push_and_read() -> tuple[str, bytes, str, bytes]:
        digest = await push_layout(out, ref, tag="v1")
        async with RegistryClient(registry) as client:
            body, media_type = await client.get_manifest("multi/test", "v1")
            arm_body, _ = await client.get_manifest("multi/test", parse_index(body)[1].digest)
        return digest, body, media_type, arm_body

    digest, body, media_type, arm_body = asyncio.run(push_and_read())
    assert media_type == INDEX_MEDIA_TYPE and read_layout(out, "v1")[1] == body
    assert arm_body == arm and digest.startswith("sha256:")
