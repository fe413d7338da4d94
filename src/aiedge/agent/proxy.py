"""The site port: a small TCP proxy that forwards each new connection to the app's active
model server, so a switch is one assignment and the old server stays warm for rollback.

Why a proxy and not ``SO_REUSEPORT``: with two servers bound to one port the kernel spreads new
connections over both, so there is no moment at which traffic moves from old to new, the smoke
test cannot be aimed at the new one only, and rollback means killing a process. The proxy gives
an atomic switch (new connections go to the new backend; open ones finish on the old), works for
HTTP and gRPC alike (it forwards bytes), and costs one loopback hop.
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


class SiteProxy:
    """Listens on ``host:port`` and forwards to ``127.0.0.1:<target>`` (``None``: refuse)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.target: int | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # open connections are the asyncio server's tasks, not a group of ours (Python 3.11's
        # Server has no close_clients): cancel them, then wait for them all at once
        conns = list(self._conns)
        for task in conns:
            task.cancel()
        await asyncio.gather(*conns, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            # close() cancels open connections; ending quietly keeps asyncio's stream callback
            # from logging the cancellation as an error
            writer.close()
        finally:
            self._conns.discard(task)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.target
        if target is None:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError as e:
            log.debug("site port %s: backend %s unreachable: %s", self.port, target, e)
            writer.close()
            return
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_pipe(reader, up_writer))
                tg.create_task(_pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
