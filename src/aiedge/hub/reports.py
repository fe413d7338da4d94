"""Status reports into the store by group commit: every report posted while one write is under way
goes into the next write, one transaction for all of them. A post is answered only once its report
is committed, so nothing acknowledged lives only in this process's memory; thousands of sites
reporting every 30 s cost a few transactions a second instead of one each.

Agents post a report only when it changed; their desired-state polls are their heartbeat, and
each poll *touches* the site (its ``last_seen`` moves, the report stays): touches are written by
the same writer, in chunks, after the reports pending and between them, and nobody waits on them
(a lost touch is made good by the next poll)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiedge.contracts import StatusReport
from aiedge.hub.store import Store

log = logging.getLogger("aiedge.hub")
TOUCH_CHUNK = 1000  # touches per write: a status post posted meanwhile waits for one such write


class ReportWriter:
    """Batches :meth:`Store.save_reports`; the newest report of a site wins within a batch."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, tuple[datetime, str]] = {}
        self._touched: dict[str, datetime] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def save(self, report: StatusReport, seen: datetime) -> None:
        """Return once ``report`` is committed; raise what the write raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending[report.site] = (seen, report.model_dump_json())
        self._waiters.append(done)
        self._start()
        await asyncio.shield(done)

    def touch(self, site: str, seen: datetime) -> None:
        """Record a sign of life of ``site`` with the next write; returns at once."""
        self._touched[site] = seen
        self._start()

    def _start(self) -> None:
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        while self._pending or self._touched:
            if self._pending:
                await self._write_reports()
                continue
            # a post waits on its report's commit, a poll on nobody's touch: touches are written
            # in chunks, and reports posted meanwhile go first. A commit wakes every held poll,
            # thousands poll again within a second, and the posts queued behind their 0.4 s of
            # touches. Taken only when no report is pending, so every report posted after this
            # is newer than each of them (a report's write sets last_seen; a touch only moves it
            # forward).
            touches, self._touched = list(self._touched.items()), {}
            for i in range(0, len(touches), TOUCH_CHUNK):
                if self._pending:
                    await self._write_reports()
                chunk = touches[i : i + TOUCH_CHUNK]
                try:
                    await asyncio.to_thread(self.store.touch_reports, chunk)
                except Exception as e:  # made good by the site's next poll
                    log.warning("recording %d polls as signs of life failed: %s", len(chunk), e)

    async def _write_reports(self) -> None:
        batch, waiters = self._take()
        try:
            await asyncio.to_thread(self.store.save_reports, batch)
        except Exception as e:  # every waiter of this batch gets the error
            log.warning("saving %d status reports failed: %s", len(batch), e)
            for w in waiters:
                if not w.done():
                    w.set_exception(e)
        else:
            for w in waiters:
                if not w.done():
                    w.set_result(None)

    def _take(self) -> tuple[list[tuple[str, datetime, str]], list[asyncio.Future[None]]]:
        batch, self._pending = self._pending, {}
        waiters, self._waiters = self._waiters, []
        return [(site, seen, body) for site, (seen, body) in batch.items()], waiters
