"""The build's trial runs of the image it makes, with the one smoke-test runner
(:mod:`aiedge.smoke.runner`): before the push, the packed model served by a real ``aiedge serve``
child process on free loopback ports; after it (``--test-container``), the pushed image run under
podman with its 8080/8081 published on free loopback ports (or on the host's network with the
server moved there, ``network="host"``). Both replay the smoke test and always stop the server
(a container is removed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from aiedge.builder.errors import BuildError
from aiedge.containers.engine import Podman
from aiedge.containers.errors import ContainerError
from aiedge.containers.images import load_image
from aiedge.contracts import SmokeTest
from aiedge.processes import free_port
from aiedge.runtimes.errors import StartError
from aiedge.runtimes.launch import Launch, LocalApp
from aiedge.runtimes.podman import PodmanInstance, PodmanRuntime
from aiedge.runtimes.process import ProcessInstance, ProcessRuntime, serve_command
from aiedge.smoke.errors import NotReady
from aiedge.smoke.runner import SmokeResult, smoke_test


@dataclass(frozen=True)
class ContainerCheck:
    result: SmokeResult
    ready_seconds: float  # from `podman run` to /v2/health/ready answering 200
    logs: str  # the container's last output lines (for a failed check)


async def smoke_test_model(
    model_dir: Path,
    name: str,
    smoke: SmokeTest,
    logs: Path,
    *,
    ready_timeout: float = 120.0,
    exact: bool = False,
    allow_code: bool = False,
) -> SmokeResult:
    """Serve ``model_dir`` as ``name`` (``aiedge serve``, no gRPC), wait until the model is ready,
    replay ``smoke`` (``exact``: no tolerance); the server's log goes to ``logs/NAME.log``.
    ``allow_code``: the model runs its own code (an MLflow pyfunc), as the user allowed."""
    runtime = ProcessRuntime(serve_command(), logs)
    env = {"AIEDGE_SERVE_ALLOW_PICKLE": "true"} if allow_code else {}

    async def start() -> ProcessInstance[LocalApp]:
        return await runtime.start(Launch(LocalApp(name, name), model_dir, free_port(), env=env))

    async with httpx.AsyncClient(trust_env=False, timeout=30.0) as http:
        try:
            ready = f"/v2/models/{name}/ready"
            trial = await smoke_test(
                start, http, smoke, ready_path=ready, ready_timeout=ready_timeout, exact=exact
            )
        except (StartError, NotReady) as e:
            raise BuildError(f"aiedge serve of {name}: {e}") from e
    assert trial.result is not None
    return trial.result


async def check_container(
    image_ref: str,
    smoke: SmokeTest,
    *,
    podman: Podman,
    network: str = "publish",
    ready_timeout: float = 120.0,
    logs: Path | None = None,
    exact: bool = False,
) -> ContainerCheck:
    """Run ``image_ref`` under podman (an image id or name in its storage, or ``oci:LAYOUT[:TAG]``),
    wait until ready, replay ``smoke``; the container is removed. Its output goes to
    ``logs/container-test.log`` (default: beside podman's configuration)."""
    image = await load_image(podman, image_ref)
    runtime = PodmanRuntime(podman, logs or podman.conf.parent / "logs", network=network)

    async def start() -> PodmanInstance[LocalApp]:
        launch = Launch(LocalApp("container-test", ""), Path(), free_port(), free_port())
        return await runtime.start_image(launch, image)

    async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
        try:
            ready = "/v2/health/ready"
            trial = await smoke_test(
                start, http, smoke, ready_path=ready, ready_timeout=ready_timeout, exact=exact
            )
        except (StartError, NotReady) as e:
            raise ContainerError(f"the container test: {e}") from e
    assert trial.result is not None
    return ContainerCheck(trial.result, trial.ready_seconds, trial.log)
