"""Model servers as podman containers, one per app version (``--runtime podman``).

The image must be runnable: a model image built on the base image (``aiedge build --base``), whose
entrypoint is ``aiedge serve /models/NAME ...`` listening on 8080 (HTTP) and 8081 (gRPC). The
agent's blob cache already holds every blob, verified by digest; :class:`PodmanImageCache` fetches
and verifies them without unpacking (a root filesystem is podman's to unpack) and hands the
runtime an OCI layout folder whose blobs are the cache itself, which podman loads with
``podman pull oci:...``. Each container runs in the foreground of a ``podman run`` child process
(so liveness is the child's, as for local processes) with the model's ports published on the
private loopback ports the reconciler chose; it is stopped and removed by container id.
Readiness, smoke test, switch and rollback stay the reconciler's, as for every runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from pathlib import Path

from aiedge.agent.cache import ImageCache, digest_hex
from aiedge.agent.errors import ImageInvalid, StartFailed
from aiedge.agent.progress import DownloadProgress
from aiedge.agent.registries import RegistryPool
from aiedge.agent.runtimes.process import ProcessInstance, _death_signal_hook
from aiedge.agent.settings import AgentSettings
from aiedge.containers.engine import Podman, host_network_args, load_args, publish_args
from aiedge.containers.errors import ContainerError
from aiedge.containers.layout import link_layout
from aiedge.contracts import DesiredApp
from aiedge.errors import AiedgeError
from aiedge.oci.image import read_manifest_descriptors

APP_LABEL = "io.aiedge.app"
DIGEST_LABEL = "io.aiedge.digest"


class PodmanImageCache(ImageCache):
    """Fetch and verify like :class:`ImageCache`, but stage an OCI layout folder, not files."""

    def __init__(self, *args: object, layouts_dir: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.layouts_dir = layouts_dir

    async def ensure(self, app: DesiredApp, progress: DownloadProgress | None = None) -> Path:
        digest, manifest = await self.image_manifest(app)
        try:
            config_desc, layer_descs = read_manifest_descriptors(manifest)
        except AiedgeError as e:
            raise ImageInvalid(f"{app.image}: bad manifest: {e}") from e
        wanted = [*layer_descs, config_desc]
        if progress is not None:
            cached = [d for d in wanted if self.blob_path(d.digest).exists()]
            progress.begin(sum(d.size for d in wanted), sum(d.size for d in cached))
        # every blob hashed again (cached ones too) before podman is pointed at the cache
        blobs = [await self._blob(app, d, progress) for d in wanted]
        if progress is not None:
            progress.finish()
        config = json.loads(await asyncio.to_thread(blobs[-1].read_bytes))
        if not (config.get("config") or {}).get("Entrypoint"):
            raise ImageInvalid(
                f"{app.image}: the image has no entrypoint, so podman cannot run it; "
                "build it on the base image (aiedge build --base)"
            )
        layout = self.layouts_dir / app.name
        # podman is given this site's platform image of an index: the cache holds only its blobs
        return await asyncio.to_thread(
            lambda: link_layout(layout, self.blobs_dir, digest, tag=digest_hex(app.digest)[:32]).path
        )


class PodmanInstance(ProcessInstance):
    """A ``podman run`` child; stopping it stops and removes the container by id."""

    def __init__(self, podman: Podman, cidfile: Path, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
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
        self._preexec = _death_signal_hook()
        self._images: dict[str, str] = {}  # manifest digest -> podman image id

    async def image_id(self, app: DesiredApp, layout: Path) -> str:
        """Load the app's image into podman's storage once per digest; podman skips known layers."""
        if app.digest not in self._images:
            ref = f"oci:{layout}:{digest_hex(app.digest)[:32]}"
            try:
                out = await self._podman.arun(*load_args(ref), what=f"podman pull {app.image}")
            except ContainerError as e:
                raise StartFailed(str(e)) from e
            self._images[app.digest] = out.strip().splitlines()[-1]
        return self._images[app.digest]

    async def start(
        self,
        app: DesiredApp,
        model_dir: Path,
        http_port: int,
        grpc_port: int,
        env: Mapping[str, str] | None = None,
    ) -> PodmanInstance:
        image = await self.image_id(app, model_dir)
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
            *[arg for name in sorted(env or {}) for arg in ("--env", name)],
            *options,
            image,
            *args,
        )
        with log.open("ab") as fh:
            fh.write(f"--- agent: starting {app.digest} in podman on port {http_port}\n".encode())
            fh.flush()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *cmd,
                    env={**self._podman.env, **env} if env else self._podman.env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=fh,
                    stderr=asyncio.subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=self._preexec,
                )
            except OSError as e:
                raise StartFailed(f"cannot start podman: {e}") from e
        return PodmanInstance(self._podman, cidfile, app, proc, log, http_port, grpc_port)


def podman_runtime(
    settings: AgentSettings, registries: RegistryPool
) -> tuple[PodmanRuntime, PodmanImageCache]:
    """The runtime and image cache of an agent with ``runtime="podman"``; podman's configuration
    goes into the agent's data folder."""
    podman = Podman.setup(settings.podman_dir)
    cache = PodmanImageCache(
        settings.blobs_dir,
        settings.apps_dir,
        registries,
        layouts_dir=settings.podman_dir / "layouts",
        platform=settings.image_platform,
    )
    return PodmanRuntime(podman, settings.logs_dir, network=settings.podman_network), cache
