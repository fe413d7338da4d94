"""The hub's queue of requests to sites (logs, diagnose), on SQLite and PostgreSQL: each request
is handed out once, answered once, visible only under its own site, the newest 50 per site kept;
a held poll for requests wakes when one is queued, and an operator's wait when it is answered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiedge.contracts import RequestKind, RequestSpec, RequestState, SiteAnswer
from aiedge.hub.site_requests import SiteRequests
from aiedge.hub.store import Store

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
        queue = SiteRequests(store, lambda: T0, lambda: False)
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
