"""The hub client against a fake hub server: desired state, long poll (304), status reports,
and how each failure is classified (unreachable, unknown site, bad token)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from aiedge.agent.errors import FetchFailed, Unauthorized, Waiting
from aiedge.agent.hub_client import HubClient
from aiedge.contracts import DesiredApp, DesiredState, StatusReport
from tests.agent.fakehub import FakeHub
from tests.support import free_port

STATE = DesiredState(
    site="s1",
    revision="main@sha1:" + "1" * 40,
    apps=[DesiredApp(name="a", model="m", image="127.0.0.1:1/r@sha256:" + "c" * 64, port=9100)],
)


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    h = FakeHub("s1", token="t0k").start()
    h.set_desired(STATE)
    yield h
    h.stop()


def _run(hub_url: str, site: str, token: str | None, call: str) -> object:
    async def go() -> object:
        async with httpx.AsyncClient() as http:
            client = HubClient(http, hub_url, site, token)
            if call == "first":
                return await client.fetch_desired(None, 1)
            if call == "again":  # the first poll of a client is answered at once, whatever it has
                await client.fetch_desired(STATE.digest, 0.2)
                return await client.fetch_desired(STATE.digest, 0.2)
            report = StatusReport(site=site, observed_revision=STATE.revision, time=datetime.now(UTC))
            await client.post_status(report)
            return None

    return asyncio.run(go())


def test_desired_long_poll_and_status(hub: FakeHub) -> None:
    assert _run(hub.url, "s1", "t0k", "first") == STATE
    assert _run(hub.url, "s1", "t0k", "again") is None  # 304: unchanged
    _run(hub.url, "s1", "t0k", "status")
    last = hub.last_report()
    assert last is not None
    assert last.observed_revision == STATE.revision


def test_failures_are_classified(hub: FakeHub) -> None:
    with pytest.raises(Unauthorized, match="check --token"):
        _run(hub.url, "s1", "wrong", "first")
    with pytest.raises(Waiting, match="does not know site 'nope'"):
        _run(hub.url, "nope", "t0k", "first")
    with pytest.raises(FetchFailed, match="unreachable"):
        _run(f"http://127.0.0.1:{free_port()}", "s1", None, "first")
