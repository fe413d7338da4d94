"""`--base INDEX`: a model stacked on every platform of a multi-platform base (two tiny bases,
linux/amd64 and linux/arm64, and an index over them in a real registry) gives an image index;
each platform's image has its own base's layers and architecture, the build is reproducible, and
its amd64 image is byte for byte the build on the amd64 base alone. Indexes that list no image or
mislabel one are refused with a line naming the base."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from aiedge.builder.errors import BuildError
from aiedge.builder.pipeline import BuildRequest
from aiedge.oci.image import MANIFEST_MEDIA_TYPE
from aiedge.oci.layers import LayerEntry, write_layer
from aiedge.oci.manifest import (
    Descriptor,
    build_config,
    build_index,
    build_manifest,
    config_descriptor,
    layer_descriptor,
    manifest_descriptor,
)
from aiedge.oci.platform import AMD64, ARM64, INDEX_MEDIA_TYPE, Platform, parse_index, pick_platform
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.builder.helpers import build, pull

REPO = "base/multi"


def _push_base(registry: str, tmp_path: Path, platform: Platform, *, says: str | None = None) -> Descriptor:
    """A one-layer base for ``platform`` (its config says ``says`` when given) in ``base/multi``;
    returns its index entry."""
    arch = platform.architecture
    (tmp_path / f"release-{arch}").write_text(f"tiny {arch} base\n")
    layer = write_layer(
        [LayerEntry("etc/base-release", tmp_path / f"release-{arch}")], tmp_path / f"{arch}.tar.gz", mtime=0
    )
    config = build_config(
        labels={"base": arch}, diff_ids=[layer.diff_id], created=0, architecture=says or arch
    )
    manifest = build_manifest(config_descriptor(config), [layer_descriptor(layer.digest, layer.size)], {})

    async def go() -> None:
        async with RegistryClient(registry) as client:
            await client.push_blob(REPO, layer.digest, layer.path)
            await client.push_blob_bytes(REPO, config)
            await client.push_manifest(REPO, manifest, MANIFEST_MEDIA_TYPE)

    asyncio.run(go())
    return manifest_descriptor(manifest, platform)


def _push_index(registry: str, entries: list[Descriptor], tag: str) -> str:
    index = build_index(entries)

    async def go() -> str:
        async with RegistryClient(registry) as client:
            return await client.push_manifest(REPO, index, INDEX_MEDIA_TYPE, tag)

    return f"{registry}/{REPO}@{asyncio.run(go())}"


def _index(registry: str, repository: str, digest: str) -> tuple[bytes, str]:
    async def go() -> tuple[bytes, str]:
        async with RegistryClient(registry) as client:
            return await client.get_manifest(repository, digest)

    return asyncio.run(go())


def test_stacks_on_every_platform_of_a_base_index(onnx_model: Path, registry: str, tmp_path: Path) -> None:
    amd, arm = _push_base(registry, tmp_path, AMD64), _push_base(registry, tmp_path, ARM64)
    base = _push_index(registry, [amd, arm], "2")
    ref = ImageReference.parse(f"{registry}/runnable/multi:1")
    req = BuildRequest(model=onnx_model, name="housing", image=ref, base=ImageReference.parse(base))
    first = build(req)
    body, media_type = _index(registry, "runnable/multi", first.digest)
    assert media_type == INDEX_MEDIA_TYPE
    entries = parse_index(body)
    assert [e.platform for e in entries] == [AMD64, ARM64]
    assert json.loads(body)["annotations"]["org.opencontainers.image.base.digest"] == base.split("@")[1]
    for entry, base_entry in zip(entries, (amd, arm), strict=True):
        assert entry.platform is not None
        manifest, config = pull(registry, "runnable/multi", entry.digest)
        base_manifest, _ = pull(registry, REPO, base_entry.digest)
        assert manifest["layers"][0] == base_manifest["layers"][0]  # that platform's base layer
        assert config["architecture"] == entry.platform.architecture
        assert config["config"]["Entrypoint"][:2] == ["aiedge", "serve"]
    # model layers: the same bytes on every platform, stored once
    amd_layers = pull(registry, "runnable/multi", entries[0].digest)[0]["layers"][1:]
    arm_layers = pull(registry, "runnable/multi", entries[1].digest)[0]["layers"][1:]
    assert amd_layers == arm_layers

    again = build(req)
    assert again.digest == first.digest and again.push.bytes_sent == 0
    alone = build(
        BuildRequest(
            model=onnx_model,
            name="housing",
            image=ImageReference.parse(f"{registry}/runnable/amd64:1"),
            base=ImageReference.parse(f"{registry}/{REPO}@{amd.digest}"),
        )
    )
    assert alone.digest == pick_platform(entries, AMD64).digest


def test_refuses_an_index_without_images_or_mislabelled(
    onnx_model: Path, registry: str, tmp_path: Path
) -> None:
    liar = _push_base(registry, tmp_path, ARM64, says="amd64")
    ref = ImageReference.parse(f"{registry}/runnable/bad:1")
    mislabelled = _push_index(registry, [liar], "liar")
    with pytest.raises(BuildError, match=r"lists sha256:\w+ as linux/arm64, its config says linux/amd64"):
        build(BuildRequest(model=onnx_model, name="m", image=ref, base=ImageReference.parse(mislabelled)))
    empty = _push_index(registry, [], "empty")
    with pytest.raises(
        BuildError, match=rf"base image {registry}/{REPO}@sha256:\w+: the index lists no image"
    ):
        build(BuildRequest(model=onnx_model, name="m", image=ref, base=ImageReference.parse(empty)))
