"""Requests to sites (``aiedge logs``, ``aiedge diagnose``), queued at the hub and answered over each
site's outbound connection: the hub never connects to a site.

A request waits in the store (``site_requests``) until the site's agent fetches it. The agent learns
of it from its desired-state poll, which ``on_queued`` ends the moment a request is queued on this
hub: the answer says ``X-Aiedge-Requests: 1`` (:meth:`SiteRequests.tell`), and the agent fetches at
once, so an agent holds one poll, not two (every held poll is an open socket at the hub). Agents
older than that hold a second long poll for their requests, which this module wakes the same way. An
operator's wait for the answer works the same way. Requests queued (or answered) on another hub of
the same database are found by one look at the store every ``recheck`` seconds for all the polls
held here, not one per poll: older agents hold their poll all the time, and 10,000 of them each
reading the store every 3 s (and waking four times a second to see if the hub was stopping) kept a
core busy doing nothing. Each site keeps its newest ``keep`` requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from typing import TypeVar

from aiedge.contracts import TAKEN_AT_ONCE, RequestSpec, RequestView, SiteAnswer, SiteRequest
from aiedge.hub.clock import Clock
from aiedge.hub.errors import ShuttingDown
from aiedge.hub.store import Store

log = logging.getLogger(__name__)
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)
RECHECK = 3.0  # seconds between looks at the store for what other hubs queued or were answered


class SiteRequests:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        keep: int = 50,
        recheck: float = RECHECK,
        on_queued: Callable[[str], None] = lambda _site: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._keep = keep
        self._recheck = recheck
        self._on_queued = on_queued
        self._closing = False
        self._pending: set[str] = set()  # sites with requests to take, as far as this hub knows
        self._told: set[str] = set()  # ... and of those, the ones a poll's answer told
        self._queued_in_look: set[str] = set()  # queued while a look at the store was under way
        self._looking = False
        self._looked = False  # the first look at the store is done: _pending is complete
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
        self._mark_pending(site)
        if self._looking:
            self._queued_in_look.add(site)
        return request_id

    def tell(self, site: str) -> bool:
        """Whether a poll of the site's desired state should say that requests wait for it:
        once per request queued (until the site takes them), so an agent that polls again
        before it has fetched them is held as usual, not answered again at once."""
        self.watch()
        if site in self._pending and site not in self._told:
            self._told.add(site)
            return True
        return False

    def watch(self) -> None:
        """Look at the store for other hubs' requests every ``recheck`` seconds from now on."""
        if self._watcher is None and not self._closing:
            self._watcher = asyncio.create_task(self._watch())

    def _mark_pending(self, site: str) -> None:
        self._pending.add(site)
        self._told.discard(site)
        _wake(self._polls, site)
        self._on_queued(site)

    async def take(self, site: str, wait: float) -> list[SiteRequest]:
        """The site's pending requests, held up to ``wait`` seconds while there are none. Not
        held, and none known here since the last look at the store: none, without a read (an
        agent looks at its start; 10,000 starting agents were 10,000 store transactions), and
        one queued at another hub since is told by the next look."""
        self.watch()
        if wait <= 0 and self._looked and site not in self._pending:
            return []

        def read() -> list[SiteRequest]:
            with self._store.transaction() as tx:
                return tx.take_requests(site, self._clock(), limit=TAKEN_AT_ONCE)

        found = await self._held(wait, read, bool, self._polls, site)
        if len(found) < TAKEN_AT_ONCE:  # all taken (on the loop: the watcher reads these sets)
            self._pending.discard(site)
            self._told.discard(site)
        return found

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
                self.watch()
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
        """Every ``recheck`` seconds, one look at the store for the sites with requests to take
        and the requests answered (at any hub of the database): the sites newly found are told
        (their polls end), and the operators' waits for answers end."""
        try:
            while not self._closing:
                if self._looked:
                    await asyncio.sleep(self._recheck)
                self._looking, self._queued_in_look = True, set()
                try:
                    sites, answered = await asyncio.to_thread(self._look, list(self._waits))
                except Exception as e:  # the store is down: the polls still end at their time
                    log.warning("requests to sites: could not look for other hubs' requests: %s", e)
                    await asyncio.sleep(self._recheck)
                    continue
                finally:
                    self._looking = False
                self._looked = True
                gone = self._pending - sites - self._queued_in_look  # taken through another hub
                self._pending -= gone
                self._told -= gone
                for site in sites - self._pending:
                    self._mark_pending(site)
                for site in sites & self._pending:
                    _wake(self._polls, site)  # an older agent's poll that missed its wake
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
