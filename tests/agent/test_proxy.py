"""The site-port proxy: forwards to the active backend, switches new connections atomically,
refuses when there is no backend, and keeps serving open connections on the old backend."""

from __future__ import annotations

import asyncio

import pytest

from aiedge.agent.proxy import SiteProxy
from tests.support import free_port


async def _backend(tag: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(tag + b":" + line)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _ask(port: int, text: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(text + b"\n")
        await writer.drain()
        answer = await reader.readline()
        writer.close()
        await writer.wait_closed()
    except ConnectionResetError:
        return b""  # refused after accept
    return answer.strip()


@pytest.mark.timeout(30)
def test_switch_and_refuse() -> None:
    async def scenario() -> None:
        old, old_port = await _backend(b"old")
        new, new_port = await _backend(b"new")
        proxy = SiteProxy("127.0.0.1", free_port())
        await proxy.start()
        try:
            # no backend yet: the connection is closed without an answer
            assert await _ask(proxy.port, b"hi") == b""
            proxy.target = old_port
            assert await _ask(proxy.port, b"hi") == b"old:hi"

            # a connection opened before the switch stays on the old backend
            reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
            writer.write(b"one\n")
            assert (await reader.readline()).strip() == b"old:one"
            proxy.target = new_port
            assert await _ask(proxy.port, b"hi") == b"new:hi"
            writer.write(b"two\n")
            assert (await reader.readline()).strip() == b"old:two"
            writer.close()
            await writer.wait_closed()
        finally:
            await proxy.close()
            for s in (old, new):
                s.close()
                await s.wait_closed()
        with pytest.raises(OSError):
            await _ask(proxy.port, b"hi")

    asyncio.run(scenario())
