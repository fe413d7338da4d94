"""Shipping to remote-write receivers: a real Prometheus (delivery, then an outage with no gap),
and fake receiver servers for retries, rejected batches, auth and TLS."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.telemetry.errors import RetryableSendError
from aiedge.telemetry.receiver import decode_write_request
from aiedge.telemetry.samples import Sample, Series, make_labels
from aiedge.telemetry.scrape import now_ms
from aiedge.telemetry.shipper import Destination, Shipper, ShipperSettings, make_client
from aiedge.telemetry.wal import Wal
from tests.telemetry.appserver import serve_app
from tests.telemetry.promserver import Prometheus

FAST = ShipperSettings(min_backoff_s=0.05, max_backoff_s=0.5, idle_poll_s=0.05)
METRIC = "aiedge_test_requests_total"


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Appender:
    """Appends one synthetic scrape (3 series) every 100 ms, stamped with the wall clock."""

    def __init__(self, wal: Wal) -> None:
        self.wal = wal
        self.appended: list[Sample] = []

    async def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ts, n = now_ms(), len(self.appended)
            scrape = [
                Sample(make_labels(METRIC, {"site": "plant-1", "app": f"app-{k}"}), ts, float(n + k))
                for k in range(3)
            ]
            await asyncio.to_thread(self.wal.append, scrape)
            self.appended.extend(scrape)
            await asyncio.sleep(0.1)

    def by_series(self) -> dict[str, list[tuple[int, float]]]:
        out: dict[str, list[tuple[int, float]]] = {}
        for s in self.appended:
            key = ",".join(f"{k}={v}" for k, v in s.labels)
            out.setdefault(key, []).append((s.timestamp_ms, s.value))
        return out


def test_prometheus_receives_samples_and_an_outage_leaves_no_gap(wal: Wal, prometheus: Prometheus) -> None:
    dest = Destination("core", prometheus.write_url)
    appender = Appender(wal)

    def stored() -> dict[str, list[tuple[int, float]]]:
        last = max(s.timestamp_ms for s in appender.appended)
        return prometheus.raw_samples(METRIC, window_s=600, at_s=last / 1000 + 1)

    async def all_stored() -> bool:
        return await asyncio.to_thread(stored) == appender.by_series()

    async def go() -> Shipper:
        stop = asyncio.Event()
        async with make_client(dest) as client:
            shipper = Shipper(wal, dest, client, FAST)
            task = asyncio.create_task(shipper.run(stop))
            await appender.run_for(1.5)
            await eventually(all_stored, "Prometheus to hold the first samples")
            first, last = appender.appended[0].timestamp_ms, appender.appended[-1].timestamp_ms
            ranged = await asyncio.to_thread(
                prometheus.api,
                "query_range",
                {"query": METRIC, "start": str(first / 1000), "end": str(last / 1000), "step": "0.1"},
            )
            assert sorted(r["metric"]["app"] for r in ranged["result"]) == ["app-0", "app-1", "app-2"]
            assert all(r["metric"]["site"] == "plant-1" and r["values"] for r in ranged["result"])

            # The core goes away; the site keeps scraping into its buffer.
            await asyncio.to_thread(prometheus.stop)
            await appender.run_for(6)
            assert shipper.stats.retries > 0
            assert shipper.stats.last_error is not None
            await asyncio.to_thread(prometheus.start)  # same data dir, same port
            await appender.run_for(1)
            await eventually(all_stored, "the backfill to fill the outage")
            stop.set()
            await task
            return shipper

    shipper = asyncio.run(go())
    assert stored() == appender.by_series()  # every sample, none missing, none extra
    assert shipper.stats.rejected_samples == 0
    assert shipper.stats.sent_samples >= len(appender.appended)


class FakeReceiver:
    """A remote-write receiver server that answers from a script of status codes (then 204)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.accepted: list[list[Series]] = []
        self.headers: list[dict[str, str]] = []
        self.app = Starlette(routes=[Route("/write", self.write, methods=["POST"])])

    async def write(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        body = await request.body()  # read it always, as real receivers do, so keep-alive holds
        status = self.statuses.pop(0) if self.statuses else 204
        if status == 204:
            self.accepted.append(decode_write_request(body))
        extra = {"Retry-After": "0"} if status == 429 else {}
        return Response(f"scripted {status}", status, headers=extra)


def scrape_at(i: int) -> list[Sample]:
    return [
        Sample(make_labels("up", {"site": "s1", "app": f"a{k}"}), 1_700_000_000_000 + i * 15_000, 1.0)
        for k in range(2)
    ]


def test_retries_transient_failures_and_drops_rejected_batches(wal: Wal) -> None:
    fake = FakeReceiver([503, 429, 204, 400])

    async def go(base: str) -> Shipper:
        dest = Destination(
            "fake", f"{base}/write", basic_auth=("site-1", "s3cret"), headers={"X-Scope-OrgID": "t1"}
        )
        async with make_client(dest) as client:
            shipper = Shipper(wal, dest, client, FAST)
            wal.append(scrape_at(0))
            for _ in range(2):
                with pytest.raises(RetryableSendError):
                    await shipper.ship_once()
            assert await shipper.ship_once() == 2  # delivered on the third try
            wal.append(scrape_at(1))
            assert await shipper.ship_once() == 2  # rejected with 400: dropped, not retried
            assert shipper.stats.rejected_samples == 2
            wal.append(scrape_at(2))
            assert await shipper.ship_once() == 2
            assert await shipper.ship_once() == 0  # caught up
            return shipper

    with serve_app(fake.app) as base:
        shipper = asyncio.run(go(base))
    assert [[s.samples[0][0] for s in req] for req in fake.accepted] == [
        [1_700_000_000_000] * 2,
        [1_700_000_000_000 + 30_000] * 2,
    ]
    assert shipper.stats.sent_samples == 4 and shipper.stats.retries == 2
    assert "HTTP 400" in (shipper.stats.last_error or "")
    h = fake.headers[0]
    assert h["content-encoding"] == "snappy"
    assert h["content-type"] == "application/x-protobuf"
    assert h["x-prometheus-remote-write-version"] == "0.1.0"
    assert h["authorization"] == "Basic " + base64.b64encode(b"site-1:s3cret").decode()
    assert h["x-scope-orgid"] == "t1"


def test_run_backs_off_then_delivers(wal: Wal) -> None:
    fake = FakeReceiver([500, 502, 503])
    wal.append(scrape_at(0))

    async def go(base: str) -> Shipper:
        dest = Destination("fake", f"{base}/write", bearer_token="tok")
        stop = asyncio.Event()
        async with make_client(dest) as client:
            shipper = Shipper(wal, dest, client, FAST)
            task = asyncio.create_task(shipper.run(stop))

            async def delivered() -> bool:
                return bool(fake.accepted)

            await eventually(delivered, "delivery after three 5xx")
            stop.set()
            await task
            return shipper

    with serve_app(fake.app) as base:
        shipper = asyncio.run(go(base))
    assert shipper.stats.retries == 3 and shipper.stats.sent_samples == 2
    assert fake.headers[-1]["authorization"] == "Bearer tok"
    assert wal.consumer_stats("fake").pending_bytes == 0


def make_cert(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_with_a_private_ca(tmp_path: Path, wal: Wal) -> None:
    cert, key = make_cert(tmp_path)
    fake = FakeReceiver([])
    wal.append(scrape_at(0))

    async def go(base: str) -> None:
        untrusted = Destination("plain", f"{base}/write")
        async with make_client(untrusted) as client:
            with pytest.raises(RetryableSendError, match="CERTIFICATE_VERIFY_FAILED"):
                await Shipper(wal, untrusted, client).ship_once()
        trusted = Destination("ca", f"{base}/write", ca_file=cert)
        async with make_client(trusted) as client:
            assert await Shipper(wal, trusted, client).ship_once() == 2

    with serve_app(fake.app, certfile=cert, keyfile=key) as base:
        assert base.startswith("https://")
        asyncio.run(go(base))
    assert len(fake.accepted) == 1


def test_connection_refused_is_retryable(wal: Wal) -> None:
    from tests.support import free_port

    wal.append(scrape_at(0))

    async def go() -> None:
        dest = Destination("gone", f"http://127.0.0.1:{free_port()}/write", timeout_s=2)
        async with httpx.AsyncClient() as client:
            with pytest.raises(RetryableSendError, match="ConnectError"):
                await Shipper(wal, dest, client).ship_once()

    asyncio.run(go())
    assert wal.read_batch("gone").samples == scrape_at(0)  # kept for the next try
