"""The content-addressed image cache and unpacked app folders.

``DATA/blobs/sha256/<hex>`` holds manifests, configs and layers, shared between apps and
verified by digest; ``DATA/apps/<app>/<hex>/`` holds one unpacked image (written beside as
``.partial`` and renamed, so a folder that exists is complete). :meth:`ImageCache.ensure` is the
fetch + verify + stage steps of a reconcile; it never starts anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from pathlib import Path

import httpx

from aiedge.agent.errors import AgentError, FetchFailed, ImageInvalid, RegistryAuthFailed
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import DesiredApp
from aiedge.errors import AiedgeError
from aiedge.oci.errors import AuthError, ImageFormatError, UnsafeLayer
from aiedge.oci.image import MODEL_PATH_LABEL, read_config_labels, read_manifest_layers, unpack_layers

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def digest_hex(digest: str) -> str:
    if not _DIGEST.match(digest):
        raise ImageInvalid(f"{digest!r} is not a sha256 digest")
    return digest.split(":", 1)[1]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class ImageCache:
    """Blobs by digest, images unpacked per app; downloads of one blob are never run twice at once."""

    def __init__(self, blobs_dir: Path, apps_dir: Path, registries: RegistryPool) -> None:
        self.blobs_dir = blobs_dir
        self.apps_dir = apps_dir
        self._registries = registries
        self._locks: dict[str, asyncio.Lock] = {}

    def blob_path(self, digest: str) -> Path:
        return self.blobs_dir / digest_hex(digest)

    def unpacked_dir(self, app: DesiredApp) -> Path:
        return self.apps_dir / app.name / digest_hex(app.digest)

    async def ensure(self, app: DesiredApp) -> Path:
        """The app's model folder, fetching and unpacking whatever is missing."""
        root = self.unpacked_dir(app)
        manifest = await self._manifest(app)
        try:
            config_digest, layer_digests = read_manifest_layers(manifest)
        except AiedgeError as e:
            raise ImageInvalid(f"{app.image}: bad manifest: {e}") from e
        config = await self._blob(app, config_digest)
        if not root.is_dir():
            layers = [await self._blob(app, d) for d in layer_digests]
            await asyncio.to_thread(self._unpack, root, list(zip(layer_digests, layers, strict=True)))
        return self._model_dir(app, root, await asyncio.to_thread(config.read_bytes))

    async def _manifest(self, app: DesiredApp) -> bytes:
        path = self.blob_path(app.digest)
        async with self._lock(app.digest):
            if path.exists():
                body = await asyncio.to_thread(path.read_bytes)
                if "sha256:" + hashlib.sha256(body).hexdigest() == app.digest:
                    return body
            try:
                body, _media_type = await self._registries.get(app.registry).get_manifest(
                    app.repository, app.digest
                )
            except (httpx.HTTPError, AiedgeError) as e:
                raise _fetch_error(f"{app.image}: manifest", e) from e
            if "sha256:" + hashlib.sha256(body).hexdigest() != app.digest:
                raise FetchFailed(f"{app.image}: the registry sent a manifest with another digest")
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_write_atomic, path, body)
            return body

    async def _blob(self, app: DesiredApp, digest: str) -> Path:
        path = self.blob_path(digest)
        async with self._lock(digest):
            if path.exists():
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                await self._registries.get(app.registry).fetch_blob(app.repository, digest, path)
            except (httpx.HTTPError, AiedgeError) as e:
                raise _fetch_error(f"{app.image}: blob {digest[:19]}", e) from e
            return path

    def _unpack(self, root: Path, layers: list[tuple[str, Path]]) -> None:
        # a blob can rot on disk between download and use: check before trusting it
        for digest, path in layers:
            if _sha256_file(path) != digest:
                path.unlink(missing_ok=True)
                raise FetchFailed(f"cached blob {digest[:19]} was corrupt; removed, will download again")
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            unpack_layers([p for _, p in layers], partial)
        except AiedgeError as e:
            shutil.rmtree(partial, ignore_errors=True)
            raise ImageInvalid(f"cannot unpack: {e}") from e
        partial.rename(root)

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


def _fetch_error(what: str, e: Exception) -> AgentError:
    """Registry failures are transient (retried with backoff, downloads resume), except a bad
    image or missing credentials: those need a human."""
    if isinstance(e, AuthError):
        return RegistryAuthFailed(f"{what}: {e}")
    if isinstance(e, ImageFormatError | UnsafeLayer):
        return ImageInvalid(f"{what}: {e}")
    return FetchFailed(f"{what}: {e}")
