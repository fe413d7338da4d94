"""Multi-platform images: the arm64 base (built under qemu-user) runs aarch64 code under podman;
``aiedge build --base`` on a base index (amd64 + arm64, pushed to a real registry) gives an index
with both platforms, its amd64 image byte-identical to a build on the amd64 base alone (the
reproducibility guarantee holds per platform); podman pulls the index's arm64 image
(``--platform linux/arm64``) and it answers the seed's housing request with -28.7639923 under
emulation; so does the agent's podman runtime on a site set to ``linux/arm64``, taking that image
out of the index through its blob cache."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from aiedge.agent.podman import PodmanImageCache
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.registries import RegistryPool
from aiedge.agent.settings import AgentSettings
from aiedge.agent.state import AgentState
from aiedge.builder.trial import check_container
from aiedge.containers.engine import Podman
from aiedge.containers.images import load_image, pull_image
from aiedge.containers.layout import read_platforms
from aiedge.containers.push import push_layout
from aiedge.contracts import DesiredApp, DesiredState
from aiedge.oci.manifest import build_index, manifest_descriptor
from aiedge.oci.platform import AMD64, ARM64, INDEX_MEDIA_TYPE, parse_index, pick_platform
from aiedge.oci.reference import ImageReference
from aiedge.oci.registry import RegistryClient
from aiedge.runtimes.podman import PodmanRuntime
from tests.containers.helpers import HOUSING, SMOKE
from tests.containers.images import build_housing
from tests.support import free_port

EMULATED_READY_S = 900  # aiedge serve starting under qemu: imports and model load run 5-20x slower


@dataclass(frozen=True)
class BaseIndex:
    pinned: str  # REGISTRY/aiedge/multi@sha256:... (the index)
    amd64: str  # REGISTRY/aiedge/multi@sha256:... (its amd64 image)


async def _push_index(registry: str, layouts: list[Path]) -> BaseIndex:
    """Each layout's image into one repository by digest, then an index over them."""
    repo = f"{registry}/aiedge/multi"
    entries = []
    for layout in layouts:
        _, _, [one] = read_platforms(layout)
        await push_layout(layout, ImageReference.parse(f"{repo}:{one.platform.architecture}"))
        entries.append(manifest_descriptor(one.manifest, one.platform))
    index = build_index(entries)
    async with RegistryClient(registry) as client:
        digest = await client.push_manifest("aiedge/multi", index, INDEX_MEDIA_TYPE, tag="test")
    amd64 = pick_platform(parse_index(index), AMD64).digest
    return BaseIndex(f"{repo}@{digest}", f"{repo}@{amd64}")


@pytest.fixture(scope="module")
def base_index(base_layout: Path, arm64_base_layout: Path, registry: str) -> BaseIndex:
    return asyncio.run(_push_index(registry, [base_layout, arm64_base_layout]))


@pytest.fixture(scope="module")
def housing_index(shared: Path, registry: str, base_index: BaseIndex) -> str:
    """``aiedge build --base INDEX``: the pinned image index of the housing model."""
    done = build_housing(
        shared, registry, "--base", base_index.pinned, "--json", env=dict(os.environ), image="models/multi:1"
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["image"])


@pytest.mark.timeout(2400)
def test_arm64_base_runs_aarch64_code(arm64_base_layout: Path, podman: Podman) -> None:
    image, _, [one] = read_platforms(arm64_base_layout)
    assert one.platform == ARM64
    image_id = asyncio.run(load_image(podman, image.transport_ref, platform=ARM64))
    machine = podman.run("run", "--rm", "--network", "none", "--entrypoint", "uname", image_id, "-m")
    assert machine.strip() == "aarch64"


@pytest.mark.timeout(2400)
def test_build_on_a_base_index_gives_an_index(
    shared: Path, registry: str, base_index: BaseIndex, housing_index: str
) -> None:
    ref = ImageReference.parse(housing_index)

    async def manifests() -> tuple[bytes, str, dict[str, object]]:
        async with RegistryClient(registry) as client:
            body, media_type = await client.get_manifest(ref.repository, str(ref.digest))
            arm = pick_platform(parse_index(body), ARM64).digest
            arm_manifest, _ = await client.get_manifest(ref.repository, arm)
            config_digest = json.loads(arm_manifest)["config"]["digest"]
            config = json.loads(await client.get_blob_bytes(ref.repository, config_digest))
            return body, media_type, config

    index, media_type, arm_config = asyncio.run(manifests())
    assert media_type == INDEX_MEDIA_TYPE
    entries = parse_index(index)
    assert sorted(str(e.platform) for e in entries) == ["linux/amd64", "linux/arm64"]
    assert arm_config["architecture"] == "arm64"
    assert arm_config["config"]["Entrypoint"][:2] == ["aiedge", "serve"]  # type: ignore[index]
    # the same model on the amd64 base alone: the index's amd64 image, byte for byte
    alone = build_housing(
        shared, registry, "--base", base_index.amd64, "--json", env=dict(os.environ), image="models/amd64:1"
    )
    assert alone.returncode == 0, alone.stderr
    digest = json.loads(alone.stdout.strip().splitlines()[-1])["image"].split("@")[1]
    assert digest == pick_platform(entries, AMD64).digest


@pytest.mark.timeout(2400)
def test_arm64_image_answers_the_seed_under_qemu(housing_index: str, podman: Podman) -> None:
    async def check() -> tuple[str, float, bool, str]:
        image_id = await pull_image(podman, housing_index, tls_verify=False, platform=ARM64)
        arch = (await podman.arun("image", "inspect", "--format", "{{.Architecture}}", image_id)).strip()
        result = await check_container(image_id, SMOKE, podman=podman, ready_timeout=EMULATED_READY_S)
        return arch, result.ready_seconds, result.result.ok, f"{result.result.summary()}\n{result.logs}"

    arch, ready, ok, why = asyncio.run(check())
    assert arch == "arm64"
    assert ok, why
    print(f"arm64 housing container (qemu) ready in {ready:.0f}s")


@pytest.mark.timeout(2400)
def test_an_arm64_sites_podman_runtime_serves_the_seed(
    housing_index: str, podman: Podman, tmp_path: Path
) -> None:
    port = free_port()
    app = DesiredApp(
        name="housing",
        model=HOUSING,
        image=housing_index,
        protocol="tfserving",
        port=port,
        grpc_port=free_port(),
        smoke_test=SMOKE,
    )
    settings = AgentSettings(
        data=tmp_path / "agent", runtime="podman", platform="linux/arm64", ready_timeout=EMULATED_READY_S
    )

    async def scenario() -> object:
        async with RegistryPool() as registries, httpx.AsyncClient(trust_env=False, timeout=60) as http:
            cache = PodmanImageCache(
                settings.blobs_dir,
                settings.apps_dir,
                registries,
                layouts_dir=settings.podman_dir / "layouts",
                platform=settings.image_platform,
            )
            runtime = PodmanRuntime(podman, settings.logs_dir)
            reconciler = Reconciler(settings, cache, runtime, http, AgentState(), lambda _: None)
            try:
                state = DesiredState(site="s", revision="main@sha1:1", apps=[app])
                assert await reconciler.reconcile(state) == []
                answer = (await http.post(f"http://127.0.0.1:{port}{SMOKE.path}", json=SMOKE.request)).json()
                image = await runtime.image_id(app, cache.layouts_dir / app.name)
                arch = await podman.arun("image", "inspect", "--format", "{{.Architecture}}", image)
                return answer, arch.strip()
            finally:
                await reconciler.shutdown()

    answer, arch = asyncio.run(scenario())
    assert arch == "arm64"
    assert answer == {"predictions": [pytest.approx(-28.7639923)]}
