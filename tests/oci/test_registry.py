"""RegistryClient against a real docker-registry: blobs, chunked and resumed uploads, manifests,
resumed and verified downloads (never more than the manifest's size); a 404 says "not found in
the registry" with the full reference; a cutting TCP proxy stands in for a flaky link."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from aiedge.oci.errors import DigestMismatch, NotFoundInRegistry, RegistryError
from aiedge.oci.image import MANIFEST_MEDIA_TYPE, read_manifest_layers
from aiedge.oci.manifest import build_config, build_manifest, config_descriptor, layer_descriptor
from aiedge.oci.registry import RegistryClient, is_loopback
from tests.oci.cutproxy import CutProxy

RandomFile = Callable[[str, int], tuple[Path, str]]


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:5000") and is_loopback("[::1]:5000")
    assert not is_loopback("quay.io") and not is_loopback("10.0.0.1:5000")


def test_push_then_skip_then_fetch(registry: str, random_file: RandomFile, tmp_path: Path) -> None:
    path, digest = random_file("blob", 300_000)
    sent: list[int] = []

    async def go() -> tuple[bool, bool, bool]:
        async with RegistryClient(registry, chunk_size=64 * 1024) as reg:
            before = await reg.blob_exists("t/push", digest)
            first = await reg.push_blob("t/push", digest, path, progress=sent.append)
            second = await reg.push_blob("t/push", digest, path)
            await reg.fetch_blob("t/push", digest, tmp_path / "back")
            return before, first, second

    assert asyncio.run(go()) == (False, True, False)
    assert sum(sent) == 300_000 and len(sent) == 5  # 64 KiB chunks
    assert (tmp_path / "back").read_bytes() == path.read_bytes()
    assert not (tmp_path / "back.partial").exists()


def test_manifest_round_trip(registry: str, random_file: RandomFile) -> None:
    layer, layer_digest = random_file("layer", 1000)
    config = build_config(labels={"k": "v"}, diff_ids=[layer_digest], created=0)
    manifest = build_manifest(config_descriptor(config), [layer_descriptor(layer_digest, 1000)], {})
    cfg_path = layer.with_name("config")
    cfg_path.write_bytes(config)

    async def go() -> tuple[str, bytes, str, bytes]:
        async with RegistryClient(registry) as reg:
            await reg.push_blob("t/manifest", layer_digest, layer)
            await reg.push_blob("t/manifest", config_descriptor(config).digest, cfg_path)
            digest = await reg.push_manifest("t/manifest", manifest, MANIFEST_MEDIA_TYPE, tag="v1")
            by_digest, media_type = await reg.get_manifest("t/manifest", digest)
            by_tag, _ = await reg.get_manifest("t/manifest", "v1")
            return digest, by_digest, media_type, by_tag

    digest, by_digest, media_type, by_tag = asyncio.run(go())
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert by_digest == by_tag == manifest and media_type == MANIFEST_MEDIA_TYPE
    assert read_manifest_layers(by_digest)[1] == [layer_digest]


def test_missing_things_say_not_found_in_the_registry(registry: str, tmp_path: Path) -> None:
    missing = "sha256:" + "0" * 64

    async def go(what: str) -> None:
        async with RegistryClient(registry) as reg:
            if what == "tag":
                await reg.get_manifest("t/none", "v1")
            elif what == "manifest":
                await reg.get_manifest("t/none", missing)
            else:
                await reg.fetch_blob("t/none", missing, tmp_path / "x")

    for what, where in [
        ("tag", f"{registry}/t/none:v1"),
        ("manifest", f"{registry}/t/none@{missing}"),
        ("blob", f"blob {registry}/t/none@{missing}"),
    ]:
        with pytest.raises(NotFoundInRegistry, match=f"^not found in the registry: {re.escape(where)}$"):
            asyncio.run(go(what))
    assert issubclass(NotFoundInRegistry, RegistryError)


def test_unreachable_registry_is_one_clear_error() -> None:
    from tests.support import free_port

    async def go() -> None:
        async with RegistryClient(f"127.0.0.1:{free_port()}", timeout=2) as reg:
            await reg.blob_exists("t/x", "sha256:" + "0" * 64)

    with pytest.raises(RegistryError, match="HEAD /v2/t/x/blobs"):
        asyncio.run(go())


def test_fetch_resumes_from_a_partial_file(registry: str, random_file: RandomFile, tmp_path: Path) -> None:
    path, digest = random_file("blob", 200_000)
    dest = tmp_path / "dest"
    dest.with_name("dest.partial").write_bytes(path.read_bytes()[:150_000])
    got: list[int] = []

    async def go() -> None:
        async with RegistryClient(registry) as reg:
            await reg.push_blob("t/resume", digest, path)
            await reg.fetch_blob("t/resume", digest, dest, progress=got.append)

    asyncio.run(go())
    # what the partial held counts first, then only the bytes that were missing
    assert dest.read_bytes() == path.read_bytes() and got[0] == 150_000 and sum(got) == 200_000


def test_a_blob_larger_than_its_manifest_says_is_cut_off(
    registry: str, random_file: RandomFile, tmp_path: Path
) -> None:
    path, digest = random_file("blob", 300_000)
    dest = tmp_path / "dest"

    async def go() -> None:
        async with RegistryClient(registry) as reg:
            await reg.push_blob("t/big", digest, path)
            await reg.fetch_blob("t/big", digest, dest, size=100_000)

    with pytest.raises(DigestMismatch, match="larger than the 100000 bytes its manifest says"):
        asyncio.run(go())
    assert not dest.exists() and not dest.with_name("dest.partial").exists()


def test_a_corrupt_partial_fails_the_digest_and_is_removed(
    registry: str, random_file: RandomFile, tmp_path: Path
) -> None:
    path, digest = random_file("blob", 10_000)
    dest = tmp_path / "dest"
    dest.with_name("dest.partial").write_bytes(b"X" * 5_000)

    async def go() -> None:
        async with RegistryClient(registry) as reg:
            await reg.push_blob("t/corrupt", digest, path)
            await reg.fetch_blob("t/corrupt", digest, dest)

    with pytest.raises(DigestMismatch, match="corrupt"):
        asyncio.run(go())
    assert not dest.exists() and not dest.with_name("dest.partial").exists()
    asyncio.run(go())  # a clean retry succeeds
    assert dest.read_bytes() == path.read_bytes()


def test_upload_survives_a_cut_connection(registry: str, random_file: RandomFile) -> None:
    path, digest = random_file("big", 3 * 1024 * 1024)
    proxy = CutProxy(registry, cut_up_after=1_500_000)
    try:

        async def go() -> bool:
            async with RegistryClient(proxy.address, chunk_size=512 * 1024) as reg:
                return await reg.push_blob("t/cut", digest, path)

        assert asyncio.run(go()) is True
        assert proxy.cuts == 1
    finally:
        proxy.close()

    async def check(dest: Path) -> None:
        async with RegistryClient(registry) as reg:
            await reg.fetch_blob("t/cut", digest, dest)

    asyncio.run(check(path.with_name("back")))
    assert path.with_name("back").read_bytes() == path.read_bytes()


def test_download_survives_a_cut_connection(registry: str, random_file: RandomFile, tmp_path: Path) -> None:
    path, digest = random_file("big", 2 * 1024 * 1024)

    async def push() -> None:
        async with RegistryClient(registry) as reg:
            await reg.push_blob("t/cutdown", digest, path)

    asyncio.run(push())
    proxy = CutProxy(registry, cut_down_after=1_000_000)
    try:

        async def go() -> None:
            async with RegistryClient(proxy.address) as reg:
                await reg.fetch_blob("t/cutdown", digest, tmp_path / "dest")

        asyncio.run(go())
        assert proxy.cuts == 1
        assert proxy.down_bytes < 2 * 2 * 1024 * 1024  # resumed, not downloaded twice
    finally:
        proxy.close()
    assert (tmp_path / "dest").read_bytes() == path.read_bytes()
