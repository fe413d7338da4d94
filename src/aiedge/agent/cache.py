"""The content-addressed image cache and unpacked app folders.

``DATA/blobs/sha256/<hex>`` holds manifests, configs and layers, shared between apps and
verified by digest; ``DATA/apps/<app>/<hex>/`` holds one unpacked image (written beside as
``.partial`` and renamed, so a folder that exists is complete), and ``<hex>.files.json`` beside
it the sha256 and size of every file as unpacked. :meth:`ImageCache.ensure` is the fetch +
verify + stage steps of a reconcile; it never starts anything.

Nothing on disk is trusted for being there: a cached blob is hashed again before it is unpacked
(a rotten one is fetched again at once), and an unpacked folder is checked against its file
digests every time it is about to serve (a deploy, a restart, the agent's start): a changed,
missing or added file means the folder is unpacked again from verified blobs.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from aiedge.agent.errors import (
    AgentError,
    FetchFailed,
    ImageInvalid,
    ImageNotFound,
    InsufficientDisk,
    PlatformNotOffered,
    RegistryAuthFailed,
)
from aiedge.agent.progress import DownloadProgress, format_bytes
from aiedge.agent.prune import DiskLimits, Kept, Pruner, PruneResult
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import DesiredApp
from aiedge.errors import AiedgeError
from aiedge.oci.digest import is_digest, sha256_bytes, sha256_file
from aiedge.oci.errors import ArchiveTooLarge, AuthError, ImageFormatError, NotFoundInRegistry, UnsafeLayer
from aiedge.oci.extract import FileDigest, Limits, free_bytes, verify_files
from aiedge.oci.image import (
    MODEL_PATH_LABEL,
    Descriptor,
    read_config_labels,
    read_manifest_descriptors,
    unpack_layers,
)
from aiedge.oci.platform import NoMatchingPlatform, Platform, host_platform, index_entries, pick_platform

log = logging.getLogger(__name__)


def digest_hex(digest: str) -> str:
    if not is_digest(digest):
        raise ImageInvalid(f"{digest!r} is not a sha256 digest")
    return digest.split(":", 1)[1]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@dataclass(frozen=True)
class UnpackPolicy:
    """How far an image may expand when unpacked: ``max_expansion`` times its layers' compressed
    size (at least ``min_bytes``), never into the last ``disk_reserve`` bytes of the disk, and at
    most ``max_entries`` entries. Model weights barely compress; a layer that unpacks to a
    hundred times its size is a bomb, not a model."""

    max_expansion: float = 100.0
    min_bytes: int = 64 << 20
    max_entries: int = 100_000
    disk_reserve: int = 256 << 20


class ImageCache:
    """Blobs by digest, images unpacked per app; downloads of one blob are never run twice at once."""

    def __init__(
        self,
        blobs_dir: Path,
        apps_dir: Path,
        registries: RegistryPool,
        *,
        policy: UnpackPolicy | None = None,
        disk: DiskLimits | None = None,
        kept: Callable[[], Kept] | None = None,
        platform: Platform | None = None,
    ) -> None:
        self.blobs_dir = blobs_dir
        self.platform = platform or host_platform()  # the image an index gives this site
        self.apps_dir = apps_dir
        self.policy = policy or UnpackPolicy()
        self.pruner = Pruner(blobs_dir, apps_dir, disk or DiskLimits())
        self.kept = kept  # what pruning must leave (the agent's serving and previous versions)
        self._registries = registries
        self._locks: dict[str, asyncio.Lock] = {}

    async def prune(self) -> PruneResult:
        """Remove unkept blobs and unpacked folders, oldest first, while over the disk limits."""
        kept = self.kept() if self.kept is not None else Kept()
        return await asyncio.to_thread(self.pruner.prune, kept)

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / digest_hex(digest)

    def unpacked_dir(self, app: DesiredApp) -> Path:
        return self.apps_dir / app.name / digest_hex(app.digest)

    async def ensure(self, app: DesiredApp, progress: DownloadProgress | None = None) -> Path:
        """The app's model folder, as verified, fetching and unpacking whatever is missing or
        no longer intact; ``progress`` follows the bytes downloaded."""
        root = self.unpacked_dir(app)
        _, manifest = await self.image_manifest(app)
        try:
            config_desc, layer_descs = read_manifest_descriptors(manifest)
        except AiedgeError as e:
            raise ImageInvalid(f"{app.image}: bad manifest: {e}") from e
        intact = await asyncio.to_thread(self._intact, app, root)
        wanted = [config_desc] if intact else [config_desc, *layer_descs]
        cached = [d for d in wanted if self.blob_path(d.digest).exists()]
        if progress is not None:
            progress.begin(sum(d.size for d in wanted), sum(d.size for d in cached))
        if not intact:
            kept = self.kept() if self.kept is not None else Kept()
            kept.add(app.name, app.digest)
            await asyncio.to_thread(self._check_disk, app, wanted, cached, layer_descs, kept)
        config = await self._blob(app, config_desc, progress)
        layers = [] if intact else [await self._blob(app, d, progress) for d in layer_descs]
        if progress is not None:
            progress.finish()
        if not intact:
            await asyncio.to_thread(self._unpack, app, root, layer_descs, layers)
        return self._model_dir(app, root, await asyncio.to_thread(config.read_bytes))

    async def image_manifest(self, app: DesiredApp) -> tuple[str, bytes]:
        """(digest, bytes) of the image manifest this site runs: the app's own, or, when the app's
        digest names an image index (a multi-platform image), the one for this site's platform;
        :class:`PlatformNotOffered` names the platforms an index offers when it lacks this one."""
        body = await self._manifest(app, app.digest)
        try:
            entries = index_entries(body, f"{app.image}: manifest")
            if entries is None:
                return app.digest, body
            chosen = pick_platform(entries, self.platform, app.image).digest
        except NoMatchingPlatform as e:
            raise PlatformNotOffered(str(e)) from e
        except ImageFormatError as e:
            raise ImageInvalid(str(e)) from e
        return chosen, await self._manifest(app, chosen)

    async def _manifest(self, app: DesiredApp, digest: str) -> bytes:
        path = self.blob_path(digest)
        async with self._lock(digest):
            if path.exists():
                body = await asyncio.to_thread(path.read_bytes)
                if sha256_bytes(body) == digest:
                    return body
                log.warning("app %s: cached manifest %s was corrupt; fetching it again", app.name, digest)
            try:
                body, _media_type = await self._registries.get(app.registry).get_manifest(
                    app.repository, digest
                )
            except NotFoundInRegistry as e:
                raise ImageNotFound(str(e)) from e
            except (httpx.HTTPError, AiedgeError) as e:
                raise _fetch_error(f"{app.image}: manifest", e) from e
            if sha256_bytes(body) != digest:
                raise FetchFailed(f"{app.image}: the registry sent a manifest with another digest")
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_write_atomic, path, body)
            return body

    async def _blob(self, app: DesiredApp, desc: Descriptor, progress: DownloadProgress | None) -> Path:
        """The blob's path, verified: a cached one is hashed again (and fetched again when it
        rotted), a fetched one is checked by the registry client before it is renamed in."""
        digest, path = desc.digest, self.blob_path(desc.digest)
        async with self._lock(digest):
            if path.exists():
                if (await asyncio.to_thread(sha256_file, path))[0] == digest:
                    return path
                log.warning(
                    "app %s: cached blob %s was corrupt; removed, downloading it again", app.name, digest[:19]
                )
                path.unlink(missing_ok=True)
                if progress is not None:
                    progress.add(-desc.size)
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                await self._registries.get(app.registry).fetch_blob(
                    app.repository,
                    digest,
                    path,
                    progress=progress.add if progress is not None else None,
                    size=desc.size,
                )
            except OSError as e:
                if e.errno == errno.ENOSPC:
                    raise InsufficientDisk(f"{app.image}: disk full while downloading {digest[:19]}") from e
                raise
            except (httpx.HTTPError, AiedgeError) as e:
                raise _fetch_error(f"{app.image}: blob {digest[:19]}", e) from e
            return path

    def _check_disk(
        self,
        app: DesiredApp,
        wanted: list[Descriptor],
        cached: list[Descriptor],
        layers: list[Descriptor],
        kept: Kept,
    ) -> None:
        """Refuse before downloading what cannot fit: the missing blobs plus the unpacked files
        (about the layers' size: model weights barely compress) plus the reserve. Unkept
        versions are pruned first when that makes room (or keeps ``min_free`` after it)."""
        missing = sum(d.size for d in wanted) - sum(d.size for d in cached)
        need = missing + sum(d.size for d in layers) + self.policy.disk_reserve
        self.blobs_dir.mkdir(parents=True, exist_ok=True)
        free = free_bytes(self.blobs_dir)
        if free < need + (self.pruner.limits.min_free or 0):
            free = self.pruner.prune(kept, need=need).free_bytes
        if free < need:
            raise InsufficientDisk(
                f"{app.image}: needs about {format_bytes(need)} free under {self.blobs_dir.parent} "
                f"(blobs, unpacked files and a {format_bytes(self.policy.disk_reserve)} reserve; "
                f"older versions pruned, the serving and previous ones kept); {format_bytes(free)} free"
            )

    def _limits(self, layers: list[Descriptor]) -> Limits:
        compressed = sum(d.size for d in layers)
        p = self.policy
        by_size = max(int(p.max_expansion * compressed), p.min_bytes)
        free = max(0, free_bytes(self.apps_dir) - p.disk_reserve)
        if free < by_size:
            return Limits(free, p.max_entries, "the free disk")
        why = f"{p.max_expansion:g}x the layers' {format_bytes(compressed)}, at least "
        why += format_bytes(p.min_bytes)
        return Limits(by_size, p.max_entries, why)

    def _unpack(self, app: DesiredApp, root: Path, descs: list[Descriptor], layers: list[Path]) -> None:
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        limits = self._limits(descs)
        try:
            files = unpack_layers(layers, partial, limits=limits)
        except ArchiveTooLarge as e:
            shutil.rmtree(partial, ignore_errors=True)
            if limits.why == "the free disk" and e.limit == "bytes":
                raise InsufficientDisk(f"{app.image}: cannot unpack: {e}") from e
            raise ImageInvalid(f"cannot unpack: {e}") from e
        except OSError as e:
            shutil.rmtree(partial, ignore_errors=True)
            if e.errno == errno.ENOSPC:
                raise InsufficientDisk(f"{app.image}: disk full while unpacking") from e
            raise
        except AiedgeError as e:
            shutil.rmtree(partial, ignore_errors=True)
            raise ImageInvalid(f"cannot unpack: {e}") from e
        _write_atomic(self._files_file(root), _files_json(files))
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
        log.info("app %s: unpacked %s (%d files)", app.name, app.digest[:19], len(files))

    def _intact(self, app: DesiredApp, root: Path) -> bool:
        """Whether ``root`` holds exactly the files unpacked there; a folder that does not is
        removed (it is unpacked again from verified blobs)."""
        if not root.is_dir():
            return False
        files_file = self._files_file(root)
        try:
            files = _read_files_json(files_file.read_bytes())
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("app %s: %s has no file digests; unpacking it again", app.name, root)
            shutil.rmtree(root, ignore_errors=True)
            return False
        bad = verify_files(root, files)
        if bad:
            shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
            log.warning(
                "app %s: unpacked files of %s changed since they were unpacked (%s); "
                "unpacking them again from verified blobs",
                app.name,
                app.digest[:19],
                shown,
            )
            shutil.rmtree(root, ignore_errors=True)
            return False
        return True

    def _files_file(self, root: Path) -> Path:
        return root.with_name(root.name + ".files.json")

    def _model_dir(self, app: DesiredApp, root: Path, config: bytes) -> Path:
        try:
            labels = read_config_labels(config)
        except AiedgeError as e:
            raise ImageInvalid(f"{app.image}: bad image config: {e}") from e
        rel = labels.get(MODEL_PATH_LABEL)
        if not rel:
            raise ImageInvalid(f"{app.image}: the image has no {MODEL_PATH_LABEL} label")
        model_dir = (root / rel).resolve()
        if not model_dir.is_relative_to(root.resolve()) or not model_dir.is_dir():
            raise ImageInvalid(f"{app.image}: label {MODEL_PATH_LABEL}={rel!r} is not a folder in the image")
        return model_dir

    def _lock(self, digest: str) -> asyncio.Lock:
        return self._locks.setdefault(digest, asyncio.Lock())


def _files_json(files: dict[str, FileDigest]) -> bytes:
    doc = {rel: {"digest": f.digest, "size": f.size} for rel, f in sorted(files.items())}
    return json.dumps({"files": doc}, indent=1).encode()


def _read_files_json(data: bytes) -> dict[str, FileDigest]:
    doc = json.loads(data)["files"]
    return {str(rel): FileDigest(str(f["digest"]), int(f["size"])) for rel, f in doc.items()}


def _fetch_error(what: str, e: Exception) -> AgentError:
    """Registry failures are transient (retried with backoff, downloads resume), except a bad
    image or missing credentials: those need a human. A 404 says so (ImageNotFound, retried:
    a push fixes it)."""
    if isinstance(e, NotFoundInRegistry):
        return ImageNotFound(str(e))
    if isinstance(e, AuthError):
        return RegistryAuthFailed(f"{what}: {e}")
    if isinstance(e, ImageFormatError | UnsafeLayer):
        return ImageInvalid(f"{what}: {e}")
    return FetchFailed(f"{what}: {e}")
