"""Multi-platform images at a site: the image cache takes its own platform's image out of an image
index (the amd64 and arm64 images here hold different models, so the answer says which one was
taken), refuses an index without its platform with ``PlatformNotOffered`` naming what the index
offers, and pruning keeps the blobs of the platform image a kept index names. A real agent
process given ``--platform linux/arm64`` reports ``NoMatchingPlatform`` for an amd64-only index and
then serves the arm64 image of the full index."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aiedge.agent.cache import ImageCache
from aiedge.agent.errors import PlatformNotOffered
from aiedge.agent.prune import DiskLimits, Kept, Pruner
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import AppReason, DesiredApp
from aiedge.oci.manifest import build_index, manifest_descriptor
from aiedge.oci.platform import AMD64, ARM64, INDEX_MEDIA_TYPE, Platform
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, model_bytes, push_model_image, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state

REPO = "agent/multi"
SITE = "site-arm"


def _push_index(registry: str, images: dict[Platform, str]) -> str:
    """An index over images already in ``REPO``; returns REGISTRY/REPO@DIGEST."""

    async def go() -> str:
        async with RegistryClient(registry) as client:
            entries = []
            for platform, image in images.items():
                ref = ImageReference.parse(image)
                body, _ = await client.get_manifest(ref.repository, str(ref.digest))
                entries.append(manifest_descriptor(body, platform))
            return await client.push_manifest(REPO, build_index(entries), INDEX_MEDIA_TYPE)

    return f"{registry}/{REPO}@{asyncio.run(go())}"


@pytest.fixture(scope="module")
def indexes(registry: str) -> dict[str, str]:
    amd = push_model_image(registry, REPO, "tiny", 1.0)
    arm = push_model_image(registry, REPO, "tiny", 2.0, architecture="arm64")
    return {
        "both": _push_index(registry, {AMD64: amd, ARM64: arm}),
        "amd64-only": _push_index(registry, {AMD64: amd}),
    }


def _ensure(tmp_path: Path, image: str, platform: Platform) -> Path:
    async def go() -> Path:
        async with RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool, platform=platform)
            return await cache.ensure(DesiredApp(name="multi", model="tiny", image=image))

    return asyncio.run(go())


def test_the_cache_takes_its_platforms_image(tmp_path: Path, indexes: dict[str, str]) -> None:
    arm = _ensure(tmp_path / "arm", indexes["both"], ARM64)
    assert (arm / "model.onnx").read_bytes() == model_bytes(2.0)
    amd = _ensure(tmp_path / "amd", indexes["both"], AMD64)
    assert (amd / "model.onnx").read_bytes() == model_bytes(1.0)
    with pytest.raises(PlatformNotOffered) as caught:
        _ensure(tmp_path / "none", indexes["amd64-only"], ARM64)
    assert str(caught.value) == f"{indexes['amd64-only']} has no linux/arm64 image; it offers linux/amd64"
    assert caught.value.reason is AppReason.NO_MATCHING_PLATFORM

    # the kept index keeps the platform image it gave this site (and all of that image's blobs)
    blobs = tmp_path / "arm" / "blobs"
    before = sorted(p.name for p in blobs.iterdir())
    kept = Kept()
    kept.add("multi", indexes["both"].split("@")[1])
    Pruner(blobs, tmp_path / "arm" / "apps", DiskLimits(cache_max=1)).prune(kept)
    assert sorted(p.name for p in blobs.iterdir()) == before


@pytest.mark.timeout(240)
def test_an_arm64_agent_refuses_then_serves_its_image(tmp_path: Path, indexes: dict[str, str]) -> None:
    hub = FakeHub(SITE).start()
    amd_only = app("multi", indexes["amd64-only"], "tiny", smoke_test("tiny", 2.0))
    hub.set_desired(state(SITE, 1, amd_only))
    agent = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent.log", "--platform", "linux/arm64")
    try:
        refused = hub.wait_report(
            lambda r: bool(r.apps) and r.apps[0].reason is AppReason.NO_MATCHING_PLATFORM,
            timeout=90,
            what="NoMatchingPlatform",
        )
        assert "has no linux/arm64 image; it offers linux/amd64" in (refused.apps[0].message or "")
        both = amd_only.model_copy(update={"image": indexes["both"]})
        hub.set_desired(state(SITE, 2, both))
        hub.wait_report(healthy_on(both.digest), timeout=90, what="the arm64 image serving")
        assert predict(both.port) == pytest.approx(answer(2.0))
    finally:
        code = agent.stop()
        hub.stop()
    assert code == 0, agent.log()
