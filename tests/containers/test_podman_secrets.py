"""Site secrets in the podman runtime: the agent decrypts an app's secret with the site's
identity and the container gets it as an environment variable through ``podman run --env NAME``
(the value travels in podman's environment, never on a command line)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from aiedge.agent.podman import PodmanImageCache
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.registries import RegistryPool
from aiedge.agent.secrets import load_identity
from aiedge.agent.settings import AgentSettings
from aiedge.agent.state import AgentState
from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from aiedge.containers.push import push_layout
from aiedge.contracts import DesiredApp, DesiredState
from aiedge.gitops.age import encrypt
from aiedge.oci.reference import ImageReference
from aiedge.runtimes.podman import PodmanInstance, PodmanRuntime
from tests.containers.helpers import HOUSING, SMOKE
from tests.support import free_port


@pytest.mark.timeout(1800)
def test_secret_reaches_the_container_env(
    housing_image: LayoutImage, podman: Podman, registry: str, tmp_path: Path
) -> None:
    asyncio.run(_scenario(housing_image, podman, registry, tmp_path))


async def _scenario(image: LayoutImage, podman: Podman, registry: str, tmp: Path) -> None:
    repo = f"{registry}/test/housing-secret"
    digest = await push_layout(image.path, ImageReference.parse(f"{repo}:1"), tag=image.tag)
    settings = AgentSettings(data=tmp / "agent", runtime="podman", ready_timeout=300)
    identity = load_identity(settings.age_identity_file)
    app = DesiredApp(
        name="housing",
        model=HOUSING,
        image=f"{repo}@{digest}",
        protocol="tfserving",
        port=free_port(),
        grpc_port=free_port(),
        smoke_test=SMOKE,
        secrets={"DEMO_TOKEN": encrypt(b"podman-secret-value", identity.recipient)},
    )
    async with RegistryPool() as registries, httpx.AsyncClient(trust_env=False, timeout=30) as http:
        cache = PodmanImageCache(
            settings.blobs_dir, settings.apps_dir, registries, layouts_dir=settings.podman_dir / "layouts"
        )
        runtime = PodmanRuntime(podman, settings.logs_dir)
        reconciler = Reconciler(
            settings, cache, runtime, http, AgentState(), lambda _: None, identity=identity
        )
        try:
            state = DesiredState(site="s", revision="main@sha1:1", apps=[app])
            assert await reconciler.reconcile(state) == []
            active = reconciler.slots["housing"].active
            assert isinstance(active, PodmanInstance) and active.container_id
            printed = await podman.arun("exec", active.container_id, "printenv", "DEMO_TOKEN", what="exec")
            assert printed.strip() == "podman-secret-value"
            cmdline = await asyncio.to_thread(Path(f"/proc/{active.pid}/cmdline").read_bytes)
            assert b"DEMO_TOKEN" in cmdline and b"podman-secret-value" not in cmdline
            log = await asyncio.to_thread((settings.logs_dir / "housing.log").read_bytes)
            assert b"podman-secret-value" not in log
        finally:
            await reconciler.shutdown()
