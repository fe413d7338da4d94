"""The one way to smoke-test a model server, used by build (before the push, and the pushed
image under podman with ``--test-container``) and by the agent (before a version takes traffic):
start it (any :class:`~aiedge.smoke.server.ModelServer`), wait until it is ready, replay the
test request, compare the answer, and stop it (the agent keeps a server that passed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx

from aiedge.contracts import SmokeTest
from aiedge.smoke.compare import compare
from aiedge.smoke.errors import NotReady
from aiedge.smoke.server import ModelServer

S = TypeVar("S", bound=ModelServer)
POLL_S = 0.2  # between readiness checks


@dataclass(frozen=True)
class SmokeResult:
    ok: bool
    diffs: list[str] = field(default_factory=list)
    status_code: int | None = None
    error: str | None = None  # connection problem, non-JSON answer...

    def summary(self) -> str:
        if self.ok:
            return "the answer matches the expected response"
        if self.error:
            return self.error
        lines = "\n  ".join(self.diffs)
        return f"the answer differs from the expected response in {len(self.diffs)} place(s):\n  {lines}"


async def run_smoke_test(
    client: httpx.AsyncClient, base_url: str, smoke: SmokeTest, *, exact: bool = False
) -> SmokeResult:
    """POST ``smoke.request`` to ``base_url + smoke.path`` and compare with ``smoke.response``
    (``exact``: the same JSON document, see :func:`aiedge.smoke.compare.compare`)."""
    url = base_url.rstrip("/") + smoke.path
    try:
        r = await client.post(url, json=smoke.request)
    except httpx.HTTPError as e:
        return SmokeResult(False, error=f"POST {url}: {e or type(e).__name__}")
    if r.status_code != 200:
        body = r.text.strip().replace("\n", " ")[:300]
        return SmokeResult(
            False, status_code=r.status_code, error=f"POST {url}: HTTP {r.status_code}: {body}"
        )
    try:
        answer = r.json()
    except ValueError:
        return SmokeResult(
            False, status_code=200, error=f"POST {url}: the answer is not JSON: {r.text[:200]!r}"
        )
    diffs = compare(smoke.response, answer, rtol=smoke.rtol, atol=smoke.atol, exact=exact)
    return SmokeResult(not diffs, diffs, 200)


@dataclass(frozen=True)
class Trial(Generic[S]):
    """A server brought up and checked: its smoke test's result (None: it had none)."""

    server: S
    result: SmokeResult | None
    ready_seconds: float  # from the start to the ready path answering 200
    log: str = ""  # the server's last log lines, kept by smoke_test() when the answer was wrong


async def wait_ready(http: httpx.AsyncClient, server: ModelServer, path: str, within: float) -> None:
    """Until ``path`` answers 200; raises :class:`NotReady` when the server exits or ``within``
    seconds pass first."""
    url = server.base_url.rstrip("/") + path
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not server.alive():
            raise NotReady(f"model server {server.exit_description()}")
        with contextlib.suppress(httpx.HTTPError):
            if (await http.get(url, timeout=2.0)).status_code == 200:
                return
        await asyncio.sleep(POLL_S)
    raise NotReady(f"model server not ready after {within:g}s ({server.exit_description()})")


async def bring_up(
    start: Callable[[], Awaitable[S]],
    http: httpx.AsyncClient,
    smoke: SmokeTest | None,
    *,
    ready_path: str,
    ready_timeout: float,
    exact: bool = False,
) -> Trial[S]:
    """Start a server, wait until ``ready_path`` answers 200, replay ``smoke`` against it
    (``exact``: see :func:`run_smoke_test`). The server is left running for the caller, a wrong
    answer included; it is stopped when it never gets ready or anything raises."""
    started = time.monotonic()
    server = await start()
    try:
        await wait_ready(http, server, ready_path, ready_timeout)
        ready = time.monotonic() - started
        result = None if smoke is None else await run_smoke_test(http, server.base_url, smoke, exact=exact)
    except BaseException:
        await server.stop()
        raise
    return Trial(server, result, ready)


async def smoke_test(
    start: Callable[[], Awaitable[S]],
    http: httpx.AsyncClient,
    smoke: SmokeTest,
    *,
    ready_path: str,
    ready_timeout: float,
    exact: bool = False,
) -> Trial[S]:
    """:func:`bring_up`, then stop the server whatever the answer (its last log lines are kept
    when the answer was wrong)."""
    trial = await bring_up(
        start, http, smoke, ready_path=ready_path, ready_timeout=ready_timeout, exact=exact
    )
    try:
        if trial.result is not None and trial.result.ok:
            return trial
        return dataclasses.replace(trial, log=trial.server.exit_description())
    finally:
        await trial.server.stop()
