"""The hub's queue of requests to sites (logs, diagnose), on SQLite and PostgreSQL: each request
is handed out once, answered once, visible only under its own site, the newest 50 per site kept;
a held poll for requests wakes when one is queued, and an operator's wait when it is answered, at
this hub at once and at another hub of the same database within its recheck; held polls cost the
store one look per recheck, however many there are, and end when the hub stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from aiedge.contracts import RequestKind, RequestSpec, RequestState, SiteAnswer
from aiedge.hub.errors import ShuttingDown
from aiedge.hub.site_requests import SiteRequests
from aiedge.hub.store import Store, open_engine

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_requests_are_handed_out_once_answered_once_and_bounded(store: Store) -> None:
    logs = RequestSpec(kind=RequestKind.LOGS, app="housing", since=600, lines=50)
    with store.transaction() as tx:
        ids = [tx.queue_request("site-a", logs, T0, keep=50) for _ in range(60)]
        other = tx.queue_request("site-b", RequestSpec(kind=RequestKind.DIAGNOSE), T0, keep=50)
    with store.transaction() as tx:
        assert tx.request("site-a", ids[0]) is None  # the oldest ten were forgotten
        assert tx.request("site-a", other) is None  # another site's request is not this site's
        taken = tx.take_requests("site-a", T0, limit=100)
    assert [r.id for r in taken] == ids[10:] and taken[0].app == "housing" and taken[0].since == 600
    with store.transaction() as tx:
        assert tx.take_requests("site-a", T0) == []
        assert tx.answer_request("site-a", ids[-1], SiteAnswer(lines=["a"]), T0)
        assert not tx.answer_request("site-a", ids[-1], SiteAnswer(lines=["b"]), T0)
        assert not tx.answer_request("site-b", ids[-2], SiteAnswer(lines=["c"]), T0)
        view = tx.request("site-a", ids[-1])
    assert view is not None and view.state is RequestState.ANSWERED and view.answer == SiteAnswer(lines=["a"])


def test_held_polls_wake_when_a_request_is_queued_and_when_it_is_answered(store: Store) -> None:
    async def scenario() -> None:
        queue = SiteRequests(store, lambda: T0)
        poll = asyncio.create_task(queue.take("site-a", wait=60))
        await asyncio.sleep(0.3)
        request_id = await queue.queue("site-a", RequestSpec(kind=RequestKind.DIAGNOSE))
        (got,) = await asyncio.wait_for(poll, 30)
        assert got.id == request_id  # woken: the poll would have been held for 60 s
        waiting = asyncio.create_task(queue.view("site-a", request_id, wait=60))
        await asyncio.sleep(0.3)
        assert await queue.answer("site-a", request_id, SiteAnswer(diagnosis={"ok": True}))
        view = await asyncio.wait_for(waiting, 30)
        assert view is not None and view.answer is not None and view.answer.diagnosis == {"ok": True}
        assert await queue.view("site-a", 10**9, wait=0) is None

    asyncio.run(scenario())


def _another_hub(store: Store) -> Store:
    """A second hub's store on the same database."""
    return Store(open_engine(store.engine.url.render_as_string(hide_password=False)))


def test_held_polls_cost_the_store_one_look_per_recheck_not_one_per_poll(store: Store) -> None:
    """Every agent holds this poll all the time: 10,000 of them each reading the store every
    recheck (and waking four times a second) kept the hub's cores busy doing nothing
    (benchmarks/hub_scale.py --requests-polls 5000: 228% CPU, 4,609 errors)."""
    reads: list[str] = []
    event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: reads.append(statement) if "site_requests" in statement else None,
    )

    async def scenario() -> None:
        queue = SiteRequests(store, lambda: T0, recheck=0.25)
        polls = [asyncio.create_task(queue.take(f"site-{i}", wait=2.0)) for i in range(40)]
        assert await asyncio.gather(*polls) == [[]] * 40
        # 40 first reads, then about 8 looks for all of them (2 s / 0.25 s); before: 40 more
        # reads every recheck (360 in all)
        assert 40 <= len(reads) <= 40 + 2 * 12, len(reads)
        # an agent's look at its start (not held) for a site with none: no read at all
        before = len(reads)
        assert [await queue.take(f"site-{i}", wait=0) for i in range(100)] == [[]] * 100
        assert len(reads) - before <= 2 * 2, len(reads) - before  # a look may fall in between
        # one queued at another hub meanwhile: the next look tells the site
        other = _another_hub(store)
        try:
            with other.transaction() as tx:
                request_id = tx.queue_request("site-7", RequestSpec(kind=RequestKind.DIAGNOSE), T0, 50)
        finally:
            other.close()
        for _ in range(200):
            if queue.tell("site-7"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("site-7 was never told of the request queued at another hub")
        assert [r.id for r in await queue.take("site-7", wait=0)] == [request_id]
        queue.close()

    asyncio.run(scenario())


def test_a_request_queued_or_answered_at_another_hub_is_seen_within_the_recheck(store: Store) -> None:
    other = _another_hub(store)
    try:

        async def scenario() -> None:
            here = SiteRequests(store, lambda: T0, recheck=0.2)
            there = SiteRequests(other, lambda: T0, recheck=0.2)
            poll = asyncio.create_task(here.take("site-a", wait=60))
            await asyncio.sleep(0.3)
            request_id = await there.queue("site-a", RequestSpec(kind=RequestKind.DIAGNOSE))
            (got,) = await asyncio.wait_for(poll, 30)
            assert got.id == request_id
            waiting = asyncio.create_task(here.view("site-a", request_id, wait=60))
            await asyncio.sleep(0.3)
            assert await there.answer("site-a", request_id, SiteAnswer(diagnosis={"ok": True}))
            view = await asyncio.wait_for(waiting, 30)
            assert view is not None and view.answer is not None

        asyncio.run(scenario())
    finally:
        other.close()


def test_held_polls_and_waits_end_when_the_hub_stops(store: Store) -> None:
    async def scenario() -> None:
        queue = SiteRequests(store, lambda: T0)
        poll = asyncio.create_task(queue.take("site-a", wait=600))
        request_id = await queue.queue("site-b", RequestSpec(kind=RequestKind.DIAGNOSE))
        waiting = asyncio.create_task(queue.view("site-b", request_id, wait=600))
        while queue.held < 2:  # noqa: ASYNC110 - the count is all there is to wait on
            await asyncio.sleep(0.01)
        queue.close()
        for held in (poll, waiting):
            with pytest.raises(ShuttingDown):
                await asyncio.wait_for(held, 30)
        with pytest.raises(ShuttingDown):
            await queue.take("site-a", wait=600)
        assert queue.held == 0

    asyncio.run(scenario())
