"""The agent's telemetry against real servers: an app's /metrics page (a fake model server) is
scraped with the site/app/model/version labels, buffered in the WAL while the hub's receiver
refuses (503), then backfilled oldest first with the site's credential once it takes samples."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from aiedge.agent.settings import AgentSettings
from aiedge.agent.telemetry import Target, Telemetry, short_digest
from aiedge.telemetry.errors import TelemetryError
from aiedge.telemetry.receiver import make_write_endpoint
from aiedge.telemetry.samples import Series
from tests.telemetry.appserver import serve_app

DIGEST = "sha256:2f56a511daef9c3b8fb2d859d1bdf7ef710e144196ff7f1b90a5e666a65cab06"


def test_scrapes_buffers_through_an_outage_and_backfills(tmp_path: Path) -> None:
    scrapes = 0

    async def metrics(_request: Request) -> Response:
        nonlocal scrapes
        scrapes += 1
        text = (
            "# TYPE aiedge_serve_requests_total counter\n"
            f'aiedge_serve_requests_total{{model="housing-demo",outcome="success"}} {scrapes}\n'
        )
        return PlainTextResponse(text)

    received: list[Series] = []
    auth: list[str | None] = []
    hub_up = False

    async def sink(series: list[Series]) -> None:
        if not hub_up:
            raise TelemetryError("hub down for maintenance")
        received.extend(series)

    endpoint = make_write_endpoint(sink)

    async def write(request: Request) -> Response:
        auth.append(request.headers.get("authorization"))
        return await endpoint(request)

    app_server = Starlette(routes=[Route("/metrics", metrics)])
    hub_server = Starlette(routes=[Route("/api/v1/metrics/write", write, methods=["POST"])])
    with serve_app(app_server) as app_url, serve_app(hub_server) as hub_url:
        settings = AgentSettings(site="site-x", data=tmp_path, hub=hub_url, scrape_interval=0.1)
        target = Target("housing", "housing-demo", DIGEST, f"{app_url}/metrics")
        telemetry = Telemetry(settings, lambda: [target], _client(), "aiedge-site-secret")

        async def scenario() -> None:
            nonlocal hub_up
            stop = asyncio.Event()
            task = asyncio.create_task(telemetry.run(stop))
            # the fake servers run in another thread's loop: poll, an asyncio.Event can't cross
            while scrapes < 5:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            assert received == []
            hub_up = True
            while not any(_value(s) >= 8 for s in received if s.name == "aiedge_serve_requests_total"):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            stop.set()
            await task
            await telemetry.http.aclose()

        asyncio.run(asyncio.wait_for(scenario(), 60))

    assert set(auth) == {"Bearer aiedge-site-secret"}
    requests = [s for s in received if s.name == "aiedge_serve_requests_total"]
    labels = dict(requests[0].labels)
    assert labels["site"] == "site-x" and labels["app"] == "housing" and labels["model"] == "housing-demo"
    assert labels["version"] == short_digest(DIGEST) == "sha256:2f56a511daef"
    assert labels["exported_model"] == "housing-demo"  # the page's own label, kept renamed
    # every scrape arrived, in order, nothing lost during the outage
    values = [v for s in requests for _, v in s.samples]
    assert values[: int(max(values))] == list(range(1, int(max(values)) + 1))
    assert (tmp_path / "telemetry").is_dir()


def _value(s: Series) -> float:
    return max(v for _, v in s.samples)


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False)
