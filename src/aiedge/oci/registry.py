"""Client for the OCI distribution API (push and pull), asyncio + httpx.

Pushes upload blobs in chunks (``POST`` then ``PATCH`` with ``Content-Range``, then ``PUT
?digest=``); a cut connection resumes from the offset the registry reports, or starts the upload
again when the registry lost it. Pulls stream to ``dest.partial`` and resume with ``Range``, through
the ``limiter`` (a :class:`~aiedge.oci.bandwidth.TokenBucket` shared by the process) when there is
one, reporting bytes as they land (``progress``) and never taking more than the manifest said.
Every byte read is hashed on the way; nothing is held in memory whole. A 404 is
:class:`~aiedge.oci.errors.NotFoundInRegistry`, naming ``REGISTRY/REPOSITORY@DIGEST``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from aiedge.oci.auth import Credentials, RegistryAuth
from aiedge.oci.bandwidth import TokenBucket
from aiedge.oci.digest import CHUNK, check_digest, sha256_bytes, sha256_file
from aiedge.oci.errors import DigestMismatch, NotFoundInRegistry, RegistryError
from aiedge.oci.image import DOCKER_MANIFEST_MEDIA_TYPE, MANIFEST_MEDIA_TYPE

_ACCEPT = ", ".join(
    [
        MANIFEST_MEDIA_TYPE,
        DOCKER_MANIFEST_MEDIA_TYPE,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)
Progress = Callable[[int], None]


def is_loopback(registry: str) -> bool:
    host = registry.rsplit(":", 1)[0] if registry.count(":") == 1 or "]" in registry else registry
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _read_at(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(size)


class RegistryClient:
    """One registry. ``insecure=None`` means: plain HTTP for loopback registries, HTTPS otherwise."""

    def __init__(
        self,
        registry: str,
        *,
        insecure: bool | None = None,
        ca_file: Path | None = None,
        timeout: float = 30.0,
        credentials: Credentials | None = None,
        chunk_size: int = 16 << 20,
        retries: int = 3,
        limiter: TokenBucket | None = None,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self.registry = registry
        plain = insecure if insecure is not None else is_loopback(registry)
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        self._http = httpx.AsyncClient(
            base_url=f"{'http' if plain else 'https'}://{registry}",
            verify=verify,
            timeout=httpx.Timeout(timeout),
            follow_redirects=True,
            # ``wrap``: a transport that sees every byte (the agent's link meter)
            transport=wrap(httpx.AsyncHTTPTransport(verify=verify)) if wrap is not None else None,
        )
        self._auth = RegistryAuth(registry, credentials)
        self.chunk_size = chunk_size
        self.retries = retries
        self.limiter = limiter

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    async def _send(
        self, method: str, url: str | httpx.URL, scope: str, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One request, answering one auth challenge; transport errors become RegistryError
        unless ``stream`` (callers that resume want httpx's own errors)."""
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in (1, 2):
            request = self._http.build_request(
                method, url, headers={**headers, **self._auth.headers(scope)}, **kwargs
            )
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as e:
                if stream:
                    raise
                raise RegistryError(
                    f"{self.registry}: {method} {request.url.path}: {e or type(e).__name__}"
                ) from e
            if response.status_code == 401 and attempt == 1 and not callable(kwargs.get("content")):
                await response.aread()
                await response.aclose()
                await self._auth.answer(self._http, response, scope)
                continue
            if not stream:
                await response.aread()
                await response.aclose()
            return response
        raise AssertionError("unreachable")

    def _fail(self, what: str, response: httpx.Response) -> RegistryError:
        detail = ""
        with contextlib.suppress(Exception):
            errors = response.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        return RegistryError(
            f"{self.registry}: {what}: HTTP {response.status_code}{': ' + detail if detail else ''}"
        )

    @staticmethod
    def _pull(repository: str) -> str:
        return f"repository:{repository}:pull"

    @staticmethod
    def _push(repository: str) -> str:
        return f"repository:{repository}:pull,push"

    # -- blobs: push ------------------------------------------------------------------------

    async def blob_exists(self, repository: str, digest: str) -> bool:
        check_digest(digest)
        r = await self._send("HEAD", f"/v2/{repository}/blobs/{digest}", self._pull(repository))
        if r.status_code == 200:
            return True
        if r.status_code == 404:
            return False
        raise self._fail(f"HEAD blob {digest[:19]} in {repository}", r)

    async def push_blob(
        self, repository: str, digest: str, path: Path, *, progress: Progress | None = None
    ) -> bool:
        """Upload unless present; True when bytes were sent, False when the registry had it."""
        if await self.blob_exists(repository, digest):
            return False
        await self.upload_blob(repository, digest, path, progress=progress)
        return True

    async def upload_blob(
        self, repository: str, digest: str, path: Path, *, progress: Progress | None = None
    ) -> None:
        """Chunked upload with resume; ``progress`` gets the bytes each accepted chunk added."""
        check_digest(digest)
        size = await asyncio.to_thread(_file_size, path)
        scope = self._push(repository)
        location = await self._start_upload(repository)
        offset, failures = 0, 0
        while offset < size:
            end = min(offset + self.chunk_size, size)
            try:
                r = await self._send(
                    "PATCH",
                    location,
                    scope,
                    stream=True,
                    content=self._chunks(path, offset, end),
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{end - 1}",
                        "Content-Length": str(end - offset),
                    },
                )
                await r.aread()
                await r.aclose()
            except httpx.TransportError as e:
                failures += 1
                if failures > self.retries:
                    raise RegistryError(
                        f"{self.registry}: upload of {digest[:19]} to {repository} "
                        f"failed at byte {offset}: {e}"
                    ) from e
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
                location, resumed = await self._resume(repository, location, offset)
                if progress and resumed > offset:
                    progress(resumed - offset)
                offset = resumed
                continue
            if r.status_code != 202:
                raise self._fail(f"PATCH blob {digest[:19]} in {repository} at byte {offset}", r)
            location = r.headers.get("Location", location)
            if progress:
                progress(end - offset)
            offset = end
        url = httpx.URL(str(self._http.base_url.join(location))).copy_merge_params({"digest": digest})
        r = await self._send("PUT", url, scope, headers={"Content-Length": "0"})
        if r.status_code != 201:
            raise self._fail(f"PUT blob {digest[:19]} in {repository}", r)

    async def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Cross-repository mount (``POST ?mount=&from=``): True when the registry linked the blob
        without any bytes sent; False when it wants an upload instead (the session it opened is
        cancelled)."""
        check_digest(digest)
        scope = f"{self._push(repository)} {self._pull(from_repository)}"
        r = await self._send(
            "POST",
            f"/v2/{repository}/blobs/uploads/",
            scope,
            params={"mount": digest, "from": from_repository},
        )
        if r.status_code == 201:
            return True
        if r.status_code == 202:
            location = r.headers.get("Location")
            if location:
                with contextlib.suppress(RegistryError):
                    await self._send("DELETE", location, self._push(repository))
            return False
        raise self._fail(f"mount blob {digest[:19]} from {from_repository} into {repository}", r)

    async def push_blob_bytes(self, repository: str, data: bytes) -> tuple[str, bool]:
        """Monolithic upload of a small blob held in memory (signatures, attestations, configs);
        (digest, True when sent / False when the registry had it)."""
        digest = sha256_bytes(data)
        if await self.blob_exists(repository, digest):
            return digest, False
        location = await self._start_upload(repository)
        url = httpx.URL(str(self._http.base_url.join(location))).copy_merge_params({"digest": digest})
        r = await self._send(
            "PUT", url, self._push(repository), content=data,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        if r.status_code != 201:
            raise self._fail(f"PUT blob {digest[:19]} in {repository}", r)
        return digest, True

    async def _start_upload(self, repository: str) -> str:
        r = await self._send("POST", f"/v2/{repository}/blobs/uploads/", self._push(repository))
        if r.status_code != 202 or "Location" not in r.headers:
            raise self._fail(f"start upload to {repository}", r)
        return r.headers["Location"]

    async def _resume(self, repository: str, location: str, offset: int) -> tuple[str, int]:
        """Where to go on after a cut: (upload URL, offset). Starts over when the registry lost
        the session or reports an offset we cannot trust."""
        r = await self._send("GET", location, self._push(repository))
        if r.status_code == 204 and "Range" in r.headers:
            start, _, end = r.headers["Range"].partition("-")
            new_location = r.headers.get("Location", location)
            if start == "0" and end.isdigit() and int(end) > 0:
                return new_location, int(end) + 1
            if offset == 0:
                return new_location, 0
        return await self._start_upload(repository), 0

    async def _chunks(self, path: Path, start: int, end: int) -> AsyncIterator[bytes]:
        pos = start
        while pos < end:
            data = await asyncio.to_thread(_read_at, path, pos, min(CHUNK, end - pos))
            if not data:
                raise RegistryError(f"{path} shrank while uploading it")
            pos += len(data)
            yield data

    # -- manifests --------------------------------------------------------------------------

    async def push_manifest(
        self, repository: str, manifest: bytes, media_type: str, tag: str | None = None
    ) -> str:
        """PUT by digest, then by tag when given; returns the manifest digest."""
        digest = sha256_bytes(manifest)
        for ref in [digest] + ([tag] if tag else []):
            r = await self._send(
                "PUT",
                f"/v2/{repository}/manifests/{ref}",
                self._push(repository),
                content=manifest,
                headers={"Content-Type": media_type},
            )
            if r.status_code not in (200, 201):
                raise self._fail(f"PUT manifest {ref} in {repository}", r)
            sent = r.headers.get("Docker-Content-Digest")
            if sent and sent != digest:
                raise DigestMismatch(f"{self.registry}: stored manifest as {sent}, we sent {digest}")
        return digest

    async def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """(body, media type); verifies the body's digest when ``reference`` is a digest."""
        found = await self.find_manifest(repository, reference)
        if found is None:
            sep = "@" if reference.startswith("sha256:") else ":"
            raise NotFoundInRegistry(
                f"not found in the registry: {self.registry}/{repository}{sep}{reference}"
            )
        return found

    async def find_manifest(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        """Like :meth:`get_manifest`, but None when the registry has no such manifest."""
        r = await self._send(
            "GET",
            f"/v2/{repository}/manifests/{reference}",
            self._pull(repository),
            headers={"Accept": _ACCEPT},
        )
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise self._fail(f"GET manifest {reference} of {repository}", r)
        body = r.content
        if reference.startswith("sha256:") and sha256_bytes(body) != reference:
            raise DigestMismatch(
                f"{self.registry}/{repository}: manifest {reference[:19]} has another digest"
            )
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip() or MANIFEST_MEDIA_TYPE
        return body, media_type

    # -- blobs: pull ------------------------------------------------------------------------

    async def get_blob_bytes(self, repository: str, digest: str, *, limit: int = 4 << 20) -> bytes:
        """A small blob (config, signature payload) in memory, verified; refuses over ``limit``."""
        check_digest(digest)
        r = await self._send("GET", f"/v2/{repository}/blobs/{digest}", self._pull(repository), stream=True)
        try:
            if r.status_code != 200:
                await r.aread()
                raise self._fail(f"GET blob {digest[:19]} of {repository}", r)
            data = bytearray()
            async for chunk in r.aiter_bytes(self._read_size()):
                if self.limiter is not None:
                    await self.limiter.take(len(chunk))
                data += chunk
                if len(data) > limit:
                    raise RegistryError(
                        f"{self.registry}/{repository}: blob {digest[:19]} is over {limit} bytes"
                    )
        except httpx.TransportError as e:
            raise RegistryError(f"{self.registry}: GET blob {digest[:19]}: {e}") from e
        finally:
            await r.aclose()
        if sha256_bytes(bytes(data)) != digest:
            raise DigestMismatch(
                f"{self.registry}/{repository}: blob {digest[:19]} arrived with another digest"
            )
        return bytes(data)

    async def fetch_blob(
        self,
        repository: str,
        digest: str,
        dest: Path,
        *,
        progress: Progress | None = None,
        size: int | None = None,
    ) -> None:
        """Stream the blob to ``dest`` (via ``dest.partial``, resuming with Range when it exists),
        verify its sha256, then rename into place. ``progress`` gets the change in bytes held for
        this blob: first what a partial file already has, then each piece as it lands (negative
        when a registry ignores the Range and the blob starts over). With ``size`` (what the
        manifest says) a registry sending more is cut off. Raises DigestMismatch / RegistryError
        (NotFoundInRegistry for a 404)."""
        check_digest(digest)
        partial = dest.with_name(dest.name + ".partial")
        if progress and (have := await asyncio.to_thread(_file_size, partial)):
            progress(have)
        failures = 0
        while True:
            try:
                await self._fetch_once(repository, digest, partial, progress, size)
                break
            except DigestMismatch:
                partial.unlink(missing_ok=True)
                raise
            except httpx.TransportError as e:
                failures += 1
                if failures > self.retries:
                    raise RegistryError(f"{self.registry}: download of {digest[:19]} failed: {e}") from e
                await asyncio.sleep(min(0.2 * 2**failures, 5.0))
        got, _ = await asyncio.to_thread(sha256_file, partial)
        if got != digest:
            partial.unlink(missing_ok=True)
            raise DigestMismatch(
                f"{self.registry}/{repository}: blob {digest[:19]} arrived with another digest"
            )
        partial.replace(dest)

    async def _fetch_once(
        self, repository: str, digest: str, partial: Path, progress: Progress | None, size: int | None
    ) -> None:
        have = await asyncio.to_thread(_file_size, partial)
        headers = {"Range": f"bytes={have}-"} if have else {}
        r = await self._send(
            "GET", f"/v2/{repository}/blobs/{digest}", self._pull(repository), stream=True, headers=headers
        )
        try:
            if r.status_code == 416 and have:
                return  # we already have every byte; the digest check decides
            if r.status_code == 404:
                await r.aread()
                raise NotFoundInRegistry(
                    f"not found in the registry: blob {self.registry}/{repository}@{digest}"
                )
            if r.status_code not in (200, 206):
                await r.aread()
                raise self._fail(f"GET blob {digest[:19]} of {repository}", r)
            mode = "ab" if r.status_code == 206 else "wb"
            if mode == "wb" and have and progress:
                progress(-have)  # the registry ignored the Range: the blob starts over
            held = have if mode == "ab" else 0
            with partial.open(mode) as f:
                async for data in r.aiter_bytes(self._read_size()):
                    if self.limiter is not None:
                        await self.limiter.take(len(data))
                    held += len(data)
                    if size is not None and held > size:
                        raise DigestMismatch(
                            f"{self.registry}/{repository}: blob {digest[:19]} is larger than the "
                            f"{size} bytes its manifest says"
                        )
                    await asyncio.to_thread(f.write, data)
                    if progress:
                        progress(len(data))
        finally:
            await r.aclose()

    def _read_size(self) -> int:
        return CHUNK if self.limiter is None else self.limiter.chunk_size(CHUNK)
