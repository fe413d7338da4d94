"""The agent's podman runtime behind the real reconciler: the image comes from a real registry
through the agent's blob cache, runs under podman on private ports behind the site port, passes
its smoke test; a version that fails its smoke test is stopped and removed while the first keeps
serving; shutdown removes every container."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from aiedge.agent.podman import PodmanImageCache
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.registries import RegistryPool
from aiedge.agent.settings import AgentSettings
from aiedge.agent.state import AgentState
from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from aiedge.containers.push import push_layout
from aiedge.contracts import DesiredApp, DesiredState
from aiedge.oci.reference import ImageReference
from aiedge.runtimes.podman import PodmanRuntime
from tests.containers.helpers import HOUSING, SMOKE
from tests.containers.images import stack_model
from tests.support import free_port


@pytest.mark.timeout(1800)
def test_deploy_gate_and_rollback(
    housing_image: LayoutImage, base_layout: Path, shared: Path, podman: Podman, registry: str, tmp_path: Path
) -> None:
    model = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    other = stack_model(base_layout, model, HOUSING, tmp_path / "other", note="v2")
    asyncio.run(_scenario(housing_image, other, podman, registry, tmp_path))


async def _scenario(good: LayoutImage, other: LayoutImage, podman: Podman, registry: str, tmp: Path) -> None:
    repo = f"{registry}/test/housing"
    d1 = await push_layout(good.path, ImageReference.parse(f"{repo}:1"), tag=good.tag)
    d2 = await push_layout(other.path, ImageReference.parse(f"{repo}:2"), tag=other.tag)
    port = free_port()
    v1 = DesiredApp(
        name="housing",
        model=HOUSING,
        image=f"{repo}@{d1}",
        protocol="tfserving",
        port=port,
        grpc_port=free_port(),
        smoke_test=SMOKE,
    )
    bad_smoke = SMOKE.model_copy(update={"response": {"predictions": [1.0]}})
    v2 = v1.model_copy(update={"image": f"{repo}@{d2}", "smoke_test": bad_smoke})
    settings = AgentSettings(data=tmp / "agent", runtime="podman", ready_timeout=300)
    url = f"http://127.0.0.1:{port}{SMOKE.path}"
    async with RegistryPool() as registries, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        cache = PodmanImageCache(
            settings.blobs_dir, settings.apps_dir, registries, layouts_dir=settings.podman_dir / "layouts"
        )
        reconciler = Reconciler(
            settings, cache, PodmanRuntime(podman, settings.logs_dir), http, AgentState(), lambda _: None
        )
        try:
            assert await reconciler.reconcile(DesiredState(site="s", revision="main@sha1:1", apps=[v1])) == []
            assert (await http.post(url, json=SMOKE.request)).json() == {
                "predictions": [pytest.approx(-28.7639923)]
            }
            assert len(_containers(podman)) == 1

            errors = await reconciler.reconcile(DesiredState(site="s", revision="main@sha1:2", apps=[v2]))
            assert len(errors) == 1 and "SmokeTestFailed" in errors[0]
            assert (await http.post(url, json=SMOKE.request)).json() == {
                "predictions": [pytest.approx(-28.7639923)]
            }
            assert len(_containers(podman)) == 1  # the failed one is gone
        finally:
            await reconciler.shutdown()
    assert _containers(podman) == []


def _containers(podman: Podman) -> list[str]:
    return podman.run("ps", "--all", "--quiet", "--filter", "label=io.aiedge.app=housing").split()
