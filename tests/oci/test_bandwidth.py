"""Download bandwidth: rates as people write them (units, refusals), and RegistryClient downloads
through one shared TokenBucket against a real registry: a blob of a few MiB at a low limit takes
at least size / rate and arrives intact; two blobs at once share the one limit; a download cut
mid-blob (a cutting TCP proxy) completes under the limit. Time is only ever bounded from below."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aiedge.oci.bandwidth import TokenBucket, format_rate, parse_rate
from aiedge.oci.registry import RegistryClient
from tests.oci.cutproxy import CutProxy

RandomFile = Callable[[str, int], tuple[Path, str]]
MiB = 1 << 20


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("2MiB/s", 2 * MiB),
        ("500KB/s", 500_000),
        ("500kB/s", 500_000),
        ("10Mbit/s", 1_250_000),
        ("10mbit/s", 1_250_000),
        ("10Mbps", 1_250_000),
        ("1.5 GiB/s", 1.5 * (1 << 30)),
        ("64KiB", 64 * 1024),
        ("1000", 1000),
        ("1000B/s", 1000),
        ("3MB/sec", 3_000_000),
    ],
)
def test_rates_people_write(text: str, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10Mb/s", "'Mb' is ambiguous; write MB/s for bytes or Mbit/s for bits"),
        ("10kb", "'kb' is ambiguous; write kB/s for bytes or kbit/s for bits"),
        ("10MBps", "'MBps' is ambiguous; write MB/s for bytes or Mbit/s for bits"),
        ("fast", "is not a rate (e.g. 2MiB/s"),
        ("5MiB/h", "is not a rate"),
        ("2 XB/s", "unknown unit 'XB'"),
        ("0", "at least 1 byte per second"),
        ("-1MiB/s", "is not a rate"),
        ("", "is not a rate"),
    ],
)
def test_bad_rates_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + repr(text).replace(".", r"\.") + ".*") as e:
        parse_rate(text)
    assert message in str(e.value)


def test_format_rate() -> None:
    assert format_rate(2 * MiB) == "2MiB/s"
    assert format_rate(500_000) == "488KiB/s"
    assert format_rate(100) == "100B/s"


async def _push(registry: str, repository: str, path: Path, digest: str) -> None:
    async with RegistryClient(registry) as reg:
        await reg.push_blob(repository, digest, path)


def test_a_download_obeys_the_limit(registry: str, random_file: RandomFile, tmp_path: Path) -> None:
    size, rate = 3 * MiB, 1.5 * MiB
    path, digest = random_file("blob", size)
    asyncio.run(_push(registry, "t/limit", path, digest))

    async def go() -> float:
        async with RegistryClient(registry, limiter=TokenBucket(rate)) as reg:
            started = time.monotonic()
            await reg.fetch_blob("t/limit", digest, tmp_path / "back")
            return time.monotonic() - started

    elapsed = asyncio.run(go())
    assert elapsed >= size / rate
    assert (tmp_path / "back").read_bytes() == path.read_bytes()


def test_downloads_share_one_limit(registry: str, random_file: RandomFile, tmp_path: Path) -> None:
    """Two clients (two registries, as far as they know) and one bucket: the limit is the sum."""
    rate = 2 * MiB
    blobs = [random_file(f"b{i}", 2 * MiB) for i in range(2)]
    for path, digest in blobs:
        asyncio.run(_push(registry, "t/shared", path, digest))

    async def go() -> float:
        bucket = TokenBucket(rate)
        async with (
            RegistryClient(registry, limiter=bucket) as one,
            RegistryClient(registry, limiter=bucket) as two,
        ):
            started = time.monotonic()
            await asyncio.gather(
                one.fetch_blob("t/shared", blobs[0][1], tmp_path / "back0"),
                two.fetch_blob("t/shared", blobs[1][1], tmp_path / "back1"),
            )
            return time.monotonic() - started

    elapsed = asyncio.run(go())
    assert elapsed >= 4 * MiB / rate
    for i, (path, _) in enumerate(blobs):
        assert (tmp_path / f"back{i}").read_bytes() == path.read_bytes()


def test_a_cut_download_resumes_under_the_limit(
    registry: str, random_file: RandomFile, tmp_path: Path
) -> None:
    size, rate = 3 * MiB, 2 * MiB
    path, digest = random_file("blob", size)
    asyncio.run(_push(registry, "t/limitcut", path, digest))
    proxy = CutProxy(registry, cut_down_after=MiB)
    try:

        async def go() -> float:
            async with RegistryClient(proxy.address, limiter=TokenBucket(rate)) as reg:
                started = time.monotonic()
                await reg.fetch_blob("t/limitcut", digest, tmp_path / "back")
                return time.monotonic() - started

        elapsed = asyncio.run(go())
        assert proxy.cuts == 1
        # that the second request asks for the rest (Range) is checked through the agent's cache in
        # tests/agent/test_cache.py; here bytes still in the socket buffers at the cut may be lost
    finally:
        proxy.close()
    # every byte that came through the bucket counts, the ones before the cut included
    assert elapsed >= size / rate
    assert (tmp_path / "back").read_bytes() == path.read_bytes()
