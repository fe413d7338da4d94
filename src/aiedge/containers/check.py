"""Running a model image under podman and replaying its smoke test: what ``aiedge build
--test-container`` does after packing, and what the container tests use.

The image runs with its 8080/8081 published on free loopback ports (or on the host's network with
the server moved there, ``network="host"``); the check waits for ``/v2/health/ready``, replays the
smoke test, and always removes the container.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from aiedge.containers.engine import Podman, host_network_args, load_args, platform_args, publish_args
from aiedge.containers.errors import ContainerError
from aiedge.contracts import SmokeTest
from aiedge.oci.platform import Platform
from aiedge.smoke.runner import SmokeResult, run_smoke_test


@dataclass(frozen=True)
class ContainerCheck:
    result: SmokeResult
    ready_seconds: float  # from `podman run` to /v2/health/ready answering 200
    logs: str  # the container's last output lines (for a failed check)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load_image(podman: Podman, image_ref: str, *, platform: Platform | None = None) -> str:
    """An image podman can run: ``oci:LAYOUT[:TAG]`` is loaded (pulled from the folder; of an
    index, ``platform``'s image), anything else (an image id or name already in podman's storage)
    is used as is."""
    if image_ref.startswith("oci:"):
        out = await podman.arun(*load_args(image_ref, platform), what=f"podman pull {image_ref}")
        return out.strip().splitlines()[-1]
    return image_ref


async def pull_image(
    podman: Podman,
    ref: str,
    *,
    tls_verify: bool = True,
    credentials: tuple[str, str] | None = None,
    ca_file: Path | None = None,
    certs_dir: Path | None = None,
    platform: Platform | None = None,
) -> str:
    """``podman pull REF`` from its registry (of an index, ``platform``'s image; default the
    host's); returns the image id. Credentials go to podman in an auth file beside its
    containers.conf (mode 0600, never on a command line); ``ca_file`` as a certificates folder
    (``certs_dir``, written here)."""
    options = [*([] if tls_verify else ["--tls-verify=false"]), *platform_args(platform)]
    if credentials is not None:
        auth = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        registry = ref.split("/", 1)[0]
        authfile = podman.conf.parent / "auth.json"
        authfile.touch(mode=0o600)
        authfile.write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
        options += ["--authfile", str(authfile)]
    if ca_file is not None and tls_verify:
        folder = certs_dir or podman.conf.parent / "certs"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ca_file, folder / "ca.crt")
        options += ["--cert-dir", str(folder)]
    out = await podman.arun("pull", "--quiet", *options, ref, what=f"podman pull {ref}")
    return out.strip().splitlines()[-1]


async def check_container(
    image_ref: str,
    smoke: SmokeTest,
    *,
    podman: Podman,
    network: str = "publish",
    ready_timeout: float = 120.0,
    exact: bool = False,
) -> ContainerCheck:
    """Run ``image_ref`` under podman, wait until ready, replay ``smoke``; the container is removed."""
    image = await load_image(podman, image_ref)
    http_port, grpc_port = _free_port(), _free_port()
    if network == "host":
        options, args = host_network_args(http_port, grpc_port)
    else:
        options, args = publish_args(http_port, grpc_port), []
    started = time.monotonic()
    cid = (await podman.arun("run", "-d", *options, image, *args, what="podman run")).strip()
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as client:
            ready = await _wait_ready(podman, client, cid, base, ready_timeout)
            result = await run_smoke_test(client, base, smoke, exact=exact)
        logs = "" if result.ok else await _logs(podman, cid)
        return ContainerCheck(result, ready - started, logs)
    finally:
        with contextlib.suppress(ContainerError):
            await podman.arun("rm", "--force", "--time", "5", cid, what="podman rm")


async def _wait_ready(podman: Podman, client: httpx.AsyncClient, cid: str, base: str, limit: float) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{base}/v2/health/ready", timeout=2.0)).status_code == 200:
                return time.monotonic()
        state = (
            await podman.arun("inspect", "--format", "{{.State.Running}}", cid, what="podman inspect")
        ).strip()
        if state != "true":
            raise ContainerError(f"the container exited before it was ready: {await _logs(podman, cid)}")
        await asyncio.sleep(0.2)
    raise ContainerError(f"the container was not ready after {limit:g}s: {await _logs(podman, cid)}")


async def _logs(podman: Podman, cid: str) -> str:
    with contextlib.suppress(ContainerError):
        out = await podman.arun("logs", "--tail", "20", cid, what="podman logs")
        return " | ".join(line for line in out.splitlines() if line.strip())
    return ""


def test_container(
    image_ref: str, smoke: SmokeTest, *, data: Path, storage: Path | None = None, network: str = "publish"
) -> ContainerCheck:
    """Blocking form for the build pipeline: podman's containers.conf goes into ``data``."""
    podman = Podman.setup(data, storage=storage)
    return asyncio.run(check_container(image_ref, smoke, podman=podman, network=network))


test_container.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
