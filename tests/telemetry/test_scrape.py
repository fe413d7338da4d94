"""Scraping a real exposition server: target labels, clashing labels, timestamps, failures, ``up``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from aiedge.telemetry.errors import ScrapeError
from aiedge.telemetry.samples import label_value
from aiedge.telemetry.scrape import parse_exposition, scrape, scrape_with_up
from tests.support import free_port
from tests.telemetry.appserver import serve_app

TARGET = {"site": "plant-1", "app": "iris", "model": "iris", "version": "v0.1.0"}


@pytest.fixture
def exporter() -> Iterator[str]:
    """A real prometheus_client exposition server on a loopback port, like `aiedge serve`'s."""
    registry = CollectorRegistry()
    requests = Counter("inference_requests", "requests", ["protocol", "app"], registry=registry)
    requests.labels("v2", "from-server").inc(3)
    latency = Histogram("inference_latency_seconds", "latency", buckets=(0.1, 1.0), registry=registry)
    latency.observe(0.05)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield f"http://127.0.0.1:{port}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_scrape_adds_target_labels_and_timestamps(exporter: str) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            samples = await scrape(client, exporter, TARGET, timestamp_ms=1_700_000_000_000)
        by_name = {label_value(s.labels, "__name__"): s for s in samples}
        total = by_name["inference_requests_total"]
        assert total.value == 3.0 and total.timestamp_ms == 1_700_000_000_000
        assert dict(total.labels) == {
            "__name__": "inference_requests_total",
            **TARGET,
            "protocol": "v2",
            "exported_app": "from-server",  # the scraped label that clashed with a target label
        }
        assert by_name["inference_latency_seconds_count"].value == 1.0
        buckets = [
            s for s in samples if label_value(s.labels, "__name__") == "inference_latency_seconds_bucket"
        ]
        assert sorted(label_value(s.labels, "le") or "" for s in buckets) == ["+Inf", "0.1", "1.0"]
        assert all(s.labels == tuple(sorted(s.labels)) for s in samples)

    asyncio.run(go())


def test_exposed_timestamps_are_kept() -> None:
    text = '# TYPE temp gauge\ntemp{room="a"} 21.5 1600000000123\ntemp{room="b"} 19\n'
    a, b = parse_exposition(text, {"site": "s"}, 1_700_000_000_000)
    assert (a.timestamp_ms, a.value) == (1_600_000_000_123, 21.5)
    assert b.timestamp_ms == 1_700_000_000_000


def test_garbage_is_a_scrape_error() -> None:
    with pytest.raises(ScrapeError, match="unparsable"):
        parse_exposition("this is { not exposition\n", {}, 0)


def test_unreachable_and_failing_targets() -> None:
    async def broken(request: Request) -> Response:
        return PlainTextResponse("model not loaded", 503)

    async def go(base: str) -> None:
        async with httpx.AsyncClient() as client:
            with pytest.raises(ScrapeError, match="HTTP 503"):
                await scrape(client, f"{base}/metrics", TARGET)
            with pytest.raises(ScrapeError, match="ConnectError"):
                await scrape(client, f"http://127.0.0.1:{free_port()}/metrics", TARGET, timeout_s=2)
            samples, error = await scrape_with_up(
                client, f"http://127.0.0.1:{free_port()}/metrics", TARGET, 2
            )
        assert error is not None
        (up, duration) = samples
        assert dict(up.labels) == {"__name__": "up", **TARGET} and up.value == 0.0
        assert label_value(duration.labels, "__name__") == "scrape_duration_seconds"

    with serve_app(Starlette(routes=[Route("/metrics", broken)])) as base:
        asyncio.run(go(base))


def test_scrape_with_up_on_success(exporter: str) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            samples, error = await scrape_with_up(client, exporter, TARGET)
        assert error is None
        up = [s for s in samples if label_value(s.labels, "__name__") == "up"]
        assert [s.value for s in up] == [1.0]

    asyncio.run(go())
