"""One :class:`~aiedge.oci.registry.RegistryClient` per registry host, made on first use and
closed together; the entry point owns the pool (no module-level clients). Every client of a pool
shares its ``limiter``, so ``--max-bandwidth`` is one limit for all downloads of the agent."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import httpx

from aiedge.oci.bandwidth import TokenBucket
from aiedge.oci.registry import RegistryClient


class RegistryPool:
    def __init__(
        self,
        *,
        insecure: bool | None = None,
        timeout: float = 30.0,
        limiter: TokenBucket | None = None,
        mirrors: dict[str, str] | None = None,
        wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        self._wrap = wrap
        self._insecure = insecure
        self.mirrors = mirrors or {}  # registry named in an App -> the (site-local) one pulled from
        self._timeout = timeout
        self.limiter = limiter
        self._clients: dict[str, RegistryClient] = {}

    def get(self, registry: str) -> RegistryClient:
        registry = self.mirrors.get(registry, registry)
        client = self._clients.get(registry)
        if client is None:
            client = RegistryClient(
                registry,
                insecure=self._insecure,
                timeout=self._timeout,
                limiter=self.limiter,
                wrap=self._wrap,
            )
            self._clients[registry] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.aclose()

    async def __aenter__(self) -> RegistryPool:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
