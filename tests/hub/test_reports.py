"""The hub's report writer over a real store (SQLite and PostgreSQL): a status post is answered
once its report is committed and never waits for the touches (polls' signs of life) queued before
it; the touches are written after, every one of them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiedge.contracts import StatusReport
from aiedge.hub.reports import TOUCH_CHUNK, ReportWriter
from aiedge.hub.store import Store

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=20)


def _report(site: str, revision: str) -> StatusReport:
    return StatusReport(site=site, observed_revision=revision, apps=[], time=T0)


def test_a_post_is_committed_before_the_touches_queued_ahead_of_it(store: Store) -> None:
    polled = [f"site-{i:04d}" for i in range(3 * TOUCH_CHUNK + 7)]  # a commit's herd of polls
    store.save_reports([(s, T0, _report(s, "r1").model_dump_json()) for s in [*polled, "poster"]])

    async def main() -> tuple[dict[str, datetime], dict[str, datetime]]:
        writer = ReportWriter(store)
        for site in polled:
            writer.touch(site, T1)
        await writer.save(_report("poster", "r2"), T1)
        answered = {s: seen for s, (seen, _) in (await asyncio.to_thread(store.reports)).items()}
        while writer._writer is not None and not writer._writer.done():
            await writer._writer
        after = {s: seen for s, (seen, _) in (await asyncio.to_thread(store.reports)).items()}
        return answered, after

    answered, after = asyncio.run(main())
    assert answered["poster"] == T1
    assert store.reports()["poster"][1].observed_revision == "r2"
    assert sum(seen == T1 for seen in answered.values()) <= TOUCH_CHUNK + 1, "the post waited on the touches"
    assert all(after[s] == T1 for s in polled)  # every touch written in the end
