"""The image cache against the real registry: fetch, verify, unpack, find the model folder;
blobs shared between apps; a download cut mid-blob resumes from the byte it had (Range); a
cached blob that rotted is found and fetched again; unpacked files that changed are unpacked
again from verified blobs (or fetched again when the blobs rotted too); a digest the registry
lacks is ImageNotFound; a layer that unpacks past its limit or an image that cannot fit on the
disk is refused before it fills the disk; progress counts the bytes as they land; an image
without the model label is refused.
A cutting TCP proxy (a fake network, not a patch) sits between the cache and the registry; with the
agent's bandwidth limit the cut download still resumes, and takes at least its size / rate."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from aiedge.agent.cache import ImageCache, UnpackPolicy
from aiedge.agent.errors import ImageInvalid, ImageNotFound, InsufficientDisk
from aiedge.agent.progress import DownloadProgress
from aiedge.agent.registries import RegistryPool
from aiedge.contracts import DesiredApp
from aiedge.oci.bandwidth import TokenBucket
from tests.agent.images import push_layer_image, push_model_image
from tests.oci.tars import zeros_bomb


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

        try:
            # one side failing (the cut) ends the other
            async with asyncio.TaskGroup() as tg:
                tg.create_task(upstream())
                tg.create_task(downstream())
        except* (ConnectionError, OSError):
            pass  # the cut, or a side that went away
        finally:
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
    """A cached layer with flipped bytes is hashed again before it is unpacked, and fetched again
    in the same pass: the second app gets the right files, not the rotten ones."""

    async def scenario() -> None:
        async with RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            app = _app("a", big_image)
            first = await cache.ensure(app)
            biggest = max((tmp_path / "blobs").iterdir(), key=lambda p: p.stat().st_size)
            good = biggest.read_bytes()
            biggest.write_bytes(b"rot" + good[3:])
            other = await cache.ensure(_app("c", big_image))
            assert (other / "NOTES.bin").read_bytes() == (first / "NOTES.bin").read_bytes()
            assert biggest.read_bytes() == good

    _run(scenario)


def test_a_missing_image_or_model_label_is_refused(tmp_path: Path, registry: str) -> None:
    image = push_model_image(registry, "agent/nolabel", "x", 1.0, label=False)
    missing = f"{registry}/agent/tiny@sha256:{'0' * 64}"

    async def scenario() -> None:
        async with RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            with pytest.raises(ImageInvalid, match=r"no io\.aiedge\.model\.path label"):
                await cache.ensure(_app("a", image))
            with pytest.raises(ImageNotFound, match=f"^not found in the registry: {re.escape(missing)}$"):
                await cache.ensure(_app("b", missing))

    _run(scenario)


def _blob_requests(proxy: CuttingProxy) -> int:
    return sum(1 for r in proxy.requests if "/blobs/" in r.split("\r\n", 1)[0])


def test_changed_unpacked_files_are_unpacked_again(tmp_path: Path, registry: str, big_image: str) -> None:
    async def scenario() -> None:
        async with CuttingProxy(registry, cut_after=None) as proxy, RegistryPool() as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            app = _app("a", _via(proxy, big_image))
            model_dir = await cache.ensure(app)
            onnx = model_dir / "model.onnx"
            good = onnx.read_bytes()
            fetched = _blob_requests(proxy)
            # a flipped byte and an added file: the folder is unpacked again from the cached blobs
            onnx.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])
            (model_dir / "extra.joblib").write_bytes(b"not from the image")
            assert await cache.ensure(app) == model_dir
            assert onnx.read_bytes() == good and not (model_dir / "extra.joblib").exists()
            assert _blob_requests(proxy) == fetched
            # the folder deleted and the layer rotten too: the layer is fetched again
            shutil.rmtree(tmp_path / "apps" / "a")
            layer = max((tmp_path / "blobs").iterdir(), key=lambda p: p.stat().st_size)
            layer.write_bytes(b"rot" + layer.read_bytes()[3:])
            assert await cache.ensure(app) == model_dir
            assert onnx.read_bytes() == good
            assert _blob_requests(proxy) == fetched + 1

    _run(scenario)


def test_a_layer_that_unpacks_past_its_limit_is_refused(tmp_path: Path, registry: str) -> None:
    """A 2 MiB layer that says 2 GiB: stopped at 4x its size, the partial folder removed."""
    bomb = push_layer_image(registry, "agent/bomb", "m", zeros_bomb(2 << 30), "sha256:" + "0" * 64)

    async def scenario() -> None:
        async with RegistryPool() as pool:
            policy = UnpackPolicy(max_expansion=4, min_bytes=1 << 20)
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool, policy=policy)
            with pytest.raises(
                ImageInvalid, match=r"unpacks to more than 8\.\d MiB \(4x the layers' 2\.\d MiB"
            ):
                await cache.ensure(_app("a", bomb))
            assert list((tmp_path / "apps").rglob("*.bin")) == []

    _run(scenario)


def test_an_image_that_cannot_fit_is_refused_before_any_download(
    tmp_path: Path, registry: str, big_image: str
) -> None:
    async def scenario() -> None:
        async with CuttingProxy(registry, cut_after=None) as proxy, RegistryPool() as pool:
            policy = UnpackPolicy(disk_reserve=1 << 60)  # no disk is that large
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool, policy=policy)
            with pytest.raises(InsufficientDisk, match=r"needs about .* free under .*; .* free$"):
                await cache.ensure(_app("a", _via(proxy, big_image)))
            assert _blob_requests(proxy) == 0

    _run(scenario)


def test_progress_counts_bytes_as_they_land(tmp_path: Path, registry: str, big_image: str) -> None:
    async def scenario() -> None:
        async with RegistryPool(limiter=TokenBucket(4 << 20)) as pool:
            cache = ImageCache(tmp_path / "blobs", tmp_path / "apps", pool)
            progress = DownloadProgress()
            seen: list[tuple[int, int | None, float | None]] = []
            task = asyncio.create_task(cache.ensure(_app("a", big_image), progress))
            while not task.done():
                seen.append((progress.done, progress.total, progress.rate))
                await asyncio.sleep(0.1)
            await task
            assert progress.finished and progress.total is not None and progress.total > 4 << 20
            assert progress.done == progress.total
            done = [d for d, _, _ in seen]
            assert done == sorted(done) and len(set(done)) > 3
            assert any(rate for _, _, rate in seen)
            snap = progress.snapshot()
            assert snap.done_bytes == snap.total_bytes == progress.total

    _run(scenario)
