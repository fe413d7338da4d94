"""Requests to sites (``aiedge logs``, ``aiedge diagnose``), queued at the hub and answered over
each site's outbound connection: the hub never connects to a site.

A request waits in the store (``site_requests``) until the site's agent fetches it; the agent's
fetch is a long poll this module wakes the moment a request is queued on this hub. An operator's
wait for the answer works the same way. Requests queued (or answered) on another hub of the same
database are found by one look at the store every ``recheck`` seconds for all the polls held
here, not one per poll: every agent holds this poll all the time, and 10,000 of them each reading
the store every 3 s (and waking four times a second to see if the hub was stopping) kept a core
busy doing nothing. Each site keeps its newest ``keep`` requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import TypeVar

from aiedge.contracts import RequestSpec, RequestView, SiteAnswer, SiteRequest
from aiedge.hub.clock import Clock
from aiedge.hub.errors import ShuttingDown
from aiedge.hub.store import Store

log = logging.getLogger(__name__)
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
RECHECK = 3.0  # seconds between looks at the store for what other hubs queued or were answered


class SiteRequests:
    def __init__(self, store: Store, clock: Clock, keep: int = 50, recheck: float = RECHECK) -> None:
        self._store = store
        self._clock = clock
        self._keep = keep
        self._recheck = recheck
        self._closing = False
        self._polls: dict[str, set[asyncio.Future[bool]]] = {}  # site -> its held polls
        self._waits: dict[int, set[asyncio.Future[bool]]] = {}  # request id -> operators' waits
        self._watcher: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        """Polls and operators' waits held now."""
        return sum(map(len, self._polls.values())) + sum(map(len, self._waits.values()))

    async def queue(self, site: str, spec: RequestSpec) -> int:
        def write() -> int:
            with self._store.transaction() as tx:
                return tx.queue_request(site, spec, self._clock(), self._keep)

        request_id = await asyncio.to_thread(write)
        _wake(self._polls, site)
        return request_id

    async def take(self, site: str, wait: float) -> list[SiteRequest]:
        """The site's pending requests, held up to ``wait`` seconds while there are none."""

        def read() -> list[SiteRequest]:
            with self._store.transaction() as tx:
                return tx.take_requests(site, self._clock())

        return await self._held(wait, read, bool, self._polls, site)

    async def answer(self, site: str, request_id: int, answer: SiteAnswer) -> bool:
        def write() -> bool:
            with self._store.transaction() as tx:
                return tx.answer_request(site, request_id, answer, self._clock())

        done = await asyncio.to_thread(write)
        if done:
            _wake(self._waits, request_id)
        return done

    async def view(self, site: str, request_id: int, wait: float) -> RequestView | None:
        """The request (None: no such request for the site), held up to ``wait`` seconds until
        it is answered."""

        def read() -> RequestView | None:
            with self._store.transaction() as tx:
                return tx.request(site, request_id)

        return await self._held(
            wait, read, lambda v: v is None or v.answer is not None, self._waits, request_id
        )

    def close(self) -> None:
        """The hub is stopping: every held poll and wait (and any new one) ends with
        :class:`ShuttingDown`."""
        self._closing = True
        for site in list(self._polls):
            _wake(self._polls, site)
        for request_id in list(self._waits):
            _wake(self._waits, request_id)
        if self._watcher is not None:
            self._watcher.cancel()

    async def _held(
        self,
        wait: float,
        read: Callable[[], R],
        done: Callable[[R], bool],
        held: dict[K, set[asyncio.Future[bool]]],
        key: K,
    ) -> R:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if self._closing:
                raise ShuttingDown("the hub is shutting down: ask again")
            waiter: asyncio.Future[bool] = loop.create_future()
            waiters = held.setdefault(key, set())
            waiters.add(waiter)  # before the read: what is queued meanwhile still wakes it
            try:
                found = await asyncio.to_thread(read)
                left = deadline - loop.time()
                if done(found) or left <= 0:
                    return found
                if self._watcher is None:
                    self._watcher = asyncio.create_task(self._watch())
                timer = loop.call_later(left, _resolve, waiter, False)
                try:
                    if not await waiter:  # held to the end: nothing came
                        return found
                finally:
                    timer.cancel()
            finally:
                waiters.discard(waiter)
                if not waiters and held.get(key) is waiters:
                    del held[key]

    async def _watch(self) -> None:
        """While polls or waits are held here: every ``recheck`` seconds, one look at the store
        for the sites with pending requests and the requests answered, and those woken."""
        try:
            while self._polls or self._waits:
                await asyncio.sleep(self._recheck)
                try:
                    sites, answered = await asyncio.to_thread(self._look, list(self._waits))
                except Exception as e:  # the store is down: the polls still end at their time
                    log.warning("requests to sites: could not look for other hubs' requests: %s", e)
                    continue
                for site in sites:
                    _wake(self._polls, site)
                for request_id in answered:
                    _wake(self._waits, request_id)
        finally:
            self._watcher = None

    def _look(self, ids: list[int]) -> tuple[set[str], set[int]]:
        with self._store.transaction() as tx:
            return tx.sites_with_pending_requests(), tx.answered_requests(ids)


def _wake(held: dict[K, set[asyncio.Future[bool]]], key: K) -> None:
    for waiter in held.get(key, ()):
        _resolve(waiter, True)


def _resolve(waiter: asyncio.Future[bool], woken: bool) -> None:
    if not waiter.done():
        waiter.set_result(woken)
