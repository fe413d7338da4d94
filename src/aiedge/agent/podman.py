"""The agent's side of ``--runtime podman``: an image cache that stages OCI layouts instead of
unpacked folders, and the runtime and cache an agent with ``runtime="podman"`` uses.

The agent's blob cache already holds every blob, verified by digest; :class:`PodmanImageCache`
fetches and verifies them without unpacking (a root filesystem is podman's to unpack) and hands
the runtime (:class:`~aiedge.runtimes.podman.PodmanRuntime`) an OCI layout folder whose blobs are
the cache itself. Readiness, smoke test, switch and rollback stay the reconciler's, as for every
runtime.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiedge.agent.cache import ImageCache
from aiedge.agent.errors import ImageInvalid
from aiedge.agent.progress import DownloadProgress
from aiedge.agent.registries import RegistryPool
from aiedge.agent.settings import AgentSettings
from aiedge.containers.engine import Podman
from aiedge.containers.layout import link_layout
from aiedge.contracts import DesiredApp
from aiedge.errors import AiedgeError
from aiedge.oci.image import read_manifest_descriptors
from aiedge.runtimes.podman import PodmanRuntime, layout_tag


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
            lambda: link_layout(layout, self.blobs_dir, digest, tag=layout_tag(app.digest)).path
        )


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
