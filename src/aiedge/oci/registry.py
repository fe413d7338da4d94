"""Client for the OCI distribution API (push and pull), asyncio + httpx.

INTERFACE STUB written by the lead: the oci owner implements it, keeping these signatures.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType


class RegistryClient:
    """One registry. ``insecure=None`` means: plain HTTP for loopback registries, HTTPS otherwise."""

    def __init__(self, registry: str, *, insecure: bool | None = None, ca_file: Path | None = None,
                 timeout: float = 30.0) -> None:
        self.registry = registry

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def blob_exists(self, repository: str, digest: str) -> bool:
        raise NotImplementedError

    async def push_blob(self, repository: str, digest: str, path: Path) -> bool:
        """Upload unless present; True when bytes were sent, False when the registry had it."""
        raise NotImplementedError

    async def push_manifest(self, repository: str, manifest: bytes, media_type: str,
                            tag: str | None = None) -> str:
        """PUT by digest, then by tag when given; returns the manifest digest."""
        raise NotImplementedError

    async def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """(body, media type); verifies the body's digest when ``reference`` is a digest."""
        raise NotImplementedError

    async def fetch_blob(self, repository: str, digest: str, dest: Path) -> None:
        """Stream the blob to ``dest`` (via ``dest.partial``, resuming with Range when it exists),
        verify its sha256, then rename into place. Raises DigestMismatch / RegistryError."""
        raise NotImplementedError
