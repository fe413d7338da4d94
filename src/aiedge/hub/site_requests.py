"""Requests to sites (``aiedge logs``, ``aiedge diagnose``), queued at the hub and answered over
each site's outbound connection: the hub never connects to a site.

A request waits in the store (``site_requests``) until the site's agent fetches it; the agent's
fetch is a long poll this module wakes the moment a request is queued on this hub (and checks the
store every few seconds, for requests queued on another hub of the same database). An operator's
wait for the answer works the same way. Each site keeps its newest ``keep`` requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from aiedge.contracts import RequestSpec, RequestView, SiteAnswer, SiteRequest
from aiedge.hub.clock import Clock
from aiedge.hub.errors import ShuttingDown
from aiedge.hub.store import Store

R = TypeVar("R")
RECHECK = 3.0  # seconds between looks at the store while a poll is held


class SiteRequests:
    def __init__(self, store: Store, clock: Clock, closing: Callable[[], bool], keep: int = 50) -> None:
        self._store = store
        self._clock = clock
        self._closing = closing
        self._keep = keep
        self._queued: dict[str, asyncio.Event] = {}  # site -> set when a request is queued for it
        self._answered: dict[int, asyncio.Event] = {}  # request id -> set when answered

    async def queue(self, site: str, spec: RequestSpec) -> int:
        def write() -> int:
            with self._store.transaction() as tx:
                return tx.queue_request(site, spec, self._clock(), self._keep)

        request_id = await asyncio.to_thread(write)
        if (event := self._queued.pop(site, None)) is not None:
            event.set()
        return request_id

    async def take(self, site: str, wait: float) -> list[SiteRequest]:
        """The site's pending requests, held up to ``wait`` seconds while there are none."""

        def read() -> list[SiteRequest]:
            with self._store.transaction() as tx:
                return tx.take_requests(site, self._clock())

        return await self._held(wait, read, bool, lambda: self._queued.setdefault(site, asyncio.Event()))

    async def answer(self, site: str, request_id: int, answer: SiteAnswer) -> bool:
        def write() -> bool:
            with self._store.transaction() as tx:
                return tx.answer_request(site, request_id, answer, self._clock())

        done = await asyncio.to_thread(write)
        if done and (event := self._answered.pop(request_id, None)) is not None:
            event.set()
        return done

    async def view(self, site: str, request_id: int, wait: float) -> RequestView | None:
        """The request (None: no such request for the site), held up to ``wait`` seconds until
        it is answered."""

        def read() -> RequestView | None:
            with self._store.transaction() as tx:
                return tx.request(site, request_id)

        return await self._held(
            wait,
            read,
            lambda v: v is None or v.answer is not None,
            lambda: self._answered.setdefault(request_id, asyncio.Event()),
        )

    async def _held(
        self,
        wait: float,
        read: Callable[[], R],
        done: Callable[[R], bool],
        event: Callable[[], asyncio.Event],
    ) -> R:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if self._closing():
                raise ShuttingDown("the hub is shutting down: ask again")
            waker = event()  # before the read: a request queued meanwhile still wakes us
            found = await asyncio.to_thread(read)
            left = deadline - loop.time()
            if done(found) or left <= 0:
                return found
            # the store again after RECHECK (another hub may have queued it); a stopping hub
            # is noticed within a quarter second
            recheck = loop.time() + min(left, RECHECK)
            while not waker.is_set() and not self._closing() and (slice_ := recheck - loop.time()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waker.wait(), min(slice_, 0.25))
