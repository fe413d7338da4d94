"""The image cache against the real registry: fetch, verify, unpack, find the model folder;
blobs shared between apps; a download cut mid-blob resumes from the byte it had (Range); a
cached blob that rotted is found and fetched again; an image without the model label is refused.
A cutting TCP proxy (a fake network, not a patch) sits between the cache and the registry; with the
agent's bandwidth limit the cut download still resumes, and takes at least its size / rate."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from aiedge.agent.cache import ImageCache
from aiedge.agent.errors import FetchFailed, ImageInvalid
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import DesiredApp
from aiedge.oci.bandwidth import TokenBucket
from tests.agent.images import push_model_image


class CuttingProxy:
    """Forwards to the registry; drops the first connection that has sent ``cut_after`` bytes
    back, and records every request head it forwards."""

    def __init__(self, upstream: str, cut_after: int | None) -> None:
        self.host, port = upstream.split(":")
        self.upstream_port = int(port)
        self.cut_after = cut_after
        self.requests: list[str] = []
        self.cuts = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = asyncio.current_task()
        assert me is not None
        self._handlers.add(me)
        try:
            await self._forward(reader, writer)
        except asyncio.CancelledError:
            pass  # closed by __aexit__
        finally:
            writer.transport.abort()
            self._handlers.discard(me)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)

        async def upstream() -> None:
            while data := await reader.read(65536):
                if data[:4] in (b"GET ", b"HEAD", b"POST", b"PUT "):
                    self.requests.append(data.split(b"\r\n\r\n", 1)[0].decode(errors="replace"))
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            sent = 0
            while data := await up_reader.read(65536):
                if self.cut_after is not None and self.cuts == 0 and sent + len(data) > self.cut_after:
                    writer.write(data[: self.cut_after - sent])
                    await writer.drain()
                    self.cuts += 1
                    raise ConnectionAbortedError("cut")
                sent += len(data)
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            up_writer.transport.abort()


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def _app(name: str, image: str) -> DesiredApp:
    return DesiredApp(name=name, model="big", image=image, port=9000)


@pytest.fixture(scope="module")
def big_image(registry: str) -> str:
    """An image with a 4 MiB incompressible file, so its layer spans several download chunks."""
    return push_model_image(registry, "agent/big", "big", 1.0, extra=os.urandom(4 << 20))


def _via(proxy: CuttingProxy, image: str) -> str:
    return f"127.0.0.1:{proxy.port}/{image.split('/', 1)[1]}"


def test_fetch_unpack_share_and_resume(tmp_path: Path, registry: str, big_image: str) -> None:
    async def scenario() -> None:
        async with CuttingProxy(registry, cut_after=(5 << 20) // 2) as proxy, RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            model_dir = await cache.ensure(_app("a", _via(proxy, big_image)))
            assert (model_dir / "model.onnx").is_file()
            assert (
                model_dir == (tmp_path / "apps" / "a" / big_image.split(":")[-1] / "models" / "big").resolve()
            )
            assert proxy.cuts == 1
            ranges = [
                line for r in proxy.requests for line in r.splitlines() if line.lower().startswith("range:")
            ]
            assert ranges and all(not line.endswith("bytes=0-") for line in ranges), "\n\n".join(
                proxy.requests
            )

            # a second app on the same image: blobs come from the cache, only the folder is new
            before = len(proxy.requests)
            other = await cache.ensure(_app("b", _via(proxy, big_image)))
            assert other.parent.parent.parent.name == "b"
            assert len(proxy.requests) == before
            assert not list((tmp_path / "blobs").glob("*.partial"))

    _run(scenario)


def test_resume_under_the_agents_bandwidth_limit(tmp_path: Path, registry: str, big_image: str) -> None:
    """One bucket for the pool (as ``--max-bandwidth`` makes it): the cut blob resumes with Range,
    and everything downloaded, before and after the cut, took at least its size / rate."""
    rate = 2 << 20

    async def scenario() -> None:
        limiter = TokenBucket(rate)
        async with (
            CuttingProxy(registry, cut_after=(5 << 20) // 2) as proxy,
            RegistryPool(limiter=limiter) as pool,
        ):
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            started = time.monotonic()
            model_dir = await cache.ensure(_app("a", _via(proxy, big_image)))
            elapsed = time.monotonic() - started
            assert proxy.cuts == 1
            assert any(
                line.lower().startswith("range:") and not line.endswith("bytes=0-")
                for r in proxy.requests
                for line in r.splitlines()
            ), "\n\n".join(proxy.requests)
            manifest = (tmp_path / "blobs" / big_image.split(":")[-1]).stat().st_size
            downloaded = sum(p.stat().st_size for p in (tmp_path / "blobs").iterdir()) - manifest
            assert downloaded > 4 << 20
            assert elapsed >= downloaded / rate
            assert (model_dir / "NOTES.bin").stat().st_size == 4 << 20

    _run(scenario)


def test_rotten_blob_is_fetched_again(tmp_path: Path, registry: str, big_image: str) -> None:
    async def scenario() -> None:
        async with RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            app = _app("a", big_image)
            await cache.ensure(app)
            biggest = max((tmp_path / "blobs").iterdir(), key=lambda p: p.stat().st_size)
            biggest.write_bytes(b"rot" + biggest.read_bytes()[3:])
            app2 = _app("c", big_image)
            with pytest.raises(FetchFailed, match="corrupt"):
                await cache.ensure(app2)
            assert (await cache.ensure(app2)).is_dir()

    _run(scenario)


def test_image_without_model_label_is_refused(tmp_path: Path, registry: str) -> None:
    image = push_model_image(registry, "agent/nolabel", "x", 1.0, label=False)

    async def scenario() -> None:
        async with RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            with pytest.raises(ImageInvalid, match=r"no io\.aiedge\.model\.path label"):
                await cache.ensure(_app("a", image))

    _run(scenario)
