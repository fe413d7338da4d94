"""Model servers as podman containers, one per app version (the agent's ``--runtime podman``,
``aiedge build --test-container``).

The image must be runnable: a model image built on the base image (``aiedge build --base``), whose
entrypoint is ``aiedge serve /models/NAME ...`` listening on 8080 (HTTP) and 8081 (gRPC). It is
given as an OCI layout folder (loaded once per digest with ``podman pull oci:...``; the agent's
blob cache is such a folder) or as an image already in podman's storage. Each container runs in
the foreground of a ``podman run`` child process (so liveness is the child's, as for local
processes) with the model's ports published on the private loopback ports chosen by the caller;
it is stopped and removed by container id.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from aiedge.containers.engine import Podman, host_network_args, load_args, publish_args
from aiedge.containers.errors import ContainerError
from aiedge.oci.digest import digest_hex
from aiedge.runtimes.errors import StartError
from aiedge.runtimes.launch import A, Launch, ServedApp
from aiedge.runtimes.process import ProcessInstance, death_signal_hook, spawn

APP_LABEL = "io.aiedge.app"
DIGEST_LABEL = "io.aiedge.digest"


def layout_tag(digest: str) -> str:
    """The tag an app's image has in its OCI layout folder (a layout names images by tag)."""
    return digest_hex(digest)[:32]


class PodmanInstance(ProcessInstance[A]):
    """A ``podman run`` child; stopping it stops and removes the container by id."""

    def __init__(
        self,
        podman: Podman,
        cidfile: Path,
        app: A,
        proc: asyncio.subprocess.Process,
        log: Path,
        http_port: int,
        grpc_port: int,
    ) -> None:
        super().__init__(app, proc, log, http_port, grpc_port)
        self._podman = podman
        self.cidfile = cidfile

    @property
    def container_id(self) -> str | None:
        with contextlib.suppress(OSError):
            return self.cidfile.read_text().strip() or None
        return None

    async def stop(self, grace: float = 10.0) -> None:
        cid = self.container_id
        if cid is not None:
            with contextlib.suppress(ContainerError):
                await self._podman.arun("stop", "--time", str(int(grace)), cid, what="podman stop")
            with contextlib.suppress(ContainerError):
                await self._podman.arun("rm", "--force", "--ignore", cid, what="podman rm")
        await super().stop(grace)
        self.cidfile.unlink(missing_ok=True)


class PodmanRuntime:
    """Starts ``podman run IMAGE`` with 8080/8081 published on 127.0.0.1's private ports, or, with
    ``network="host"``, on the host's network with the server moved to the private ports."""

    def __init__(self, podman: Podman, logs_dir: Path, *, network: str = "publish") -> None:
        if network not in ("publish", "host"):
            raise ValueError(f"network must be 'publish' or 'host', not {network!r}")
        self._podman = podman
        self._logs_dir = logs_dir
        self._network = network
        self._preexec = death_signal_hook()
        self._images: dict[str, str] = {}  # manifest digest -> podman image id

    async def image_id(self, app: ServedApp, layout: Path) -> str:
        """Load the app's image into podman's storage once per digest; podman skips known layers."""
        if app.digest not in self._images:
            ref = f"oci:{layout}:{layout_tag(app.digest)}"
            try:
                out = await self._podman.arun(*load_args(ref), what=f"podman pull {ref}")
            except ContainerError as e:
                raise StartError(str(e)) from e
            self._images[app.digest] = out.strip().splitlines()[-1]
        return self._images[app.digest]

    async def start(self, launch: Launch[A]) -> PodmanInstance[A]:
        """Run the app's image from its OCI layout folder ``launch.model_dir``."""
        return await self.start_image(launch, await self.image_id(launch.app, launch.model_dir))

    async def start_image(self, launch: Launch[A], image: str) -> PodmanInstance[A]:
        """Run ``image``, an image id or name in podman's storage (``launch.model_dir`` unread)."""
        app, http_port, grpc_port, env = launch.app, launch.http_port, launch.grpc_port, launch.env
        self._logs_dir.mkdir(parents=True, exist_ok=True)
        log = self._logs_dir / f"{app.name}.log"
        cidfile = self._logs_dir / f"{app.name}-{http_port}.cid"
        cidfile.unlink(missing_ok=True)
        if self._network == "host":
            options, args = host_network_args(http_port, grpc_port)
        else:
            options, args = publish_args(http_port, grpc_port), []
        cmd = self._podman.argv(
            "run",
            "--rm",
            "--cidfile",
            str(cidfile),
            "--name",
            f"aiedge-{app.name}-{http_port}",
            "--replace",
            "--label",
            f"{APP_LABEL}={app.name}",
            "--label",
            f"{DIGEST_LABEL}={app.digest}",
            # `--env NAME` takes the value from podman's own environment: never on a command line
            *[arg for name in sorted(env) for arg in ("--env", name)],
            *options,
            image,
            *args,
        )
        note = f"starting {app.digest or image} in podman on port {http_port}"
        proc = await spawn(cmd, log, note, {**self._podman.env, **env}, self._preexec)
        return PodmanInstance(self._podman, cidfile, app, proc, log, http_port, grpc_port)
