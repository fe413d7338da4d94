"""Shipping the site's minute summaries to the hub: the raw scrapes in the WAL are read in order
(a cursor of our own, ``summary``), added up per app and minute
(:class:`~aiedge.telemetry.summary.Summarizer`), and each finished minute goes to the hub as a
few hundred bytes instead of every scraped series.
The raw series stay in the WAL for its retention.

The summarizer's state and its WAL position are saved together (``DATA/telemetry/summary-state.json``)
after every read, so a restarted agent goes on from the same baselines; the minutes not yet sent
are part of that state, so a hub outage only makes them wait (and the reading stops once
``max_pending`` of them wait: the raw data waits in the WAL instead). After an outage they go in
batches of ``max_minutes`` per request, oldest first. Sending a minute twice is harmless: the hub
replaces a minute with what it gets.

On first use it starts where the raw shipping to the hub left off (its ``hub`` cursor, which it
then removes), so an upgraded site neither resends nor skips a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from aiedge.agent.backoff import Backoff
from aiedge.agent.errors import AgentError
from aiedge.contracts import AppMinute
from aiedge.telemetry.summary import Summarizer, Summary, to_wire
from aiedge.telemetry.wal import Position, Wal

log = logging.getLogger(__name__)

CONSUMER = "summary"
Send = Callable[[list[AppMinute]], Awaitable[None]]


class SummaryShipper:
    def __init__(
        self,
        wal: Wal,
        state_file: Path,
        send: Send,
        *,
        replaces: str | None = None,
        read_samples: int = 2000,
        max_samples: int = 50_000,
        max_minutes: int = 500,
        max_pending: int = 2000,
        idle_s: float = 1.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.wal = wal
        self.state_file = state_file
        self.send = send
        self.replaces = replaces
        self.read_samples = read_samples
        self.max_samples = max_samples
        self.max_minutes = max_minutes
        self.max_pending = max_pending
        self.idle_s = idle_s
        self.backoff = backoff or Backoff(0.5, 30.0)
        self.summarizer = Summarizer()
        self.position: Position | None = None
        self.sent_minutes = 0
        self.last_error: str | None = None

    async def run(self, stop: asyncio.Event, active: Callable[[], bool] = lambda: True) -> None:
        """Until ``stop``; does nothing while ``active()`` is false (a hub that takes no summaries)."""
        while not stop.is_set():
            if not active():
                await _sleep(stop, self.idle_s)
                continue
            if self.position is None:
                await asyncio.to_thread(self._load)
            try:
                moved = await self.ship_once()
            except AgentError as e:
                delay = self.backoff.next_delay()
                if str(e) != self.last_error:
                    log.warning("minute summaries not sent: %s (retrying; the minutes wait)", e)
                self.last_error = str(e)
                await _sleep(stop, delay)
                continue
            if self.last_error is not None:
                log.info("minute summaries sent again")
                self.last_error = None
            self.backoff.reset()
            if not moved:
                await _sleep(stop, self.idle_s)

    async def ship_once(self) -> int:
        """Read what is new, send what is finished; how many samples and minutes that was."""
        read = await self._read()
        return read + await self._send()

    async def _read(self) -> int:
        assert self.position is not None
        if len(self.summarizer.unsent) >= self.max_pending:
            return 0  # the hub is behind: the raw samples wait in the WAL
        work: Summarizer | None = None
        position, n = self.position, 0
        while n < self.max_samples:
            batch = await asyncio.to_thread(self.wal.read_at, position, self.read_samples)
            position = batch.end
            if not batch.samples:
                break
            work = work or self.summarizer.copy()
            await asyncio.to_thread(work.feed, batch.samples)
            n += len(batch.samples)
        if position != self.position:
            self.summarizer = work or self.summarizer
            self.position = position
            await asyncio.to_thread(self._save)
        return n

    async def _send(self) -> int:
        finished = self.summarizer.take()
        sent = 0
        while finished:
            part, finished = finished[: self.max_minutes], finished[self.max_minutes :]
            await self.send([to_wire(s) for s in part])
            self._sent(part)
            sent += len(part)
        if sent:
            await asyncio.to_thread(self._save)
        return sent

    def _sent(self, part: list[Summary]) -> None:
        self.summarizer.sent(part)
        self.sent_minutes += len(part)

    # -- state ---------------------------------------------------------------------------------

    def _load(self) -> None:
        data = _read_json(self.state_file)
        try:
            if data is not None:
                self.summarizer = Summarizer.from_state(data["summarizer"])
                self.position = Position(int(data["position"][0]), int(data["position"][1]))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            log.warning("%s is damaged (%s): minute summaries start again from the WAL", self.state_file, e)
            self.summarizer, self.position = Summarizer(), None
        if self.position is None:
            consumers = self.wal.consumers()
            start = self.replaces if self.replaces in consumers else CONSUMER
            self.position = self.wal.position(start)
        if self.replaces is not None and self.replaces in self.wal.consumers():
            self.wal.remove_consumer(self.replaces)
        self.wal.commit(CONSUMER, self.position)

    def _save(self) -> None:
        assert self.position is not None
        body = {
            "position": [self.position.segment, self.position.offset],
            "summarizer": self.summarizer.state(),
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(body))
        tmp.replace(self.state_file)
        self.wal.commit(CONSUMER, self.position)  # retention counts what the summaries would lose


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as e:
        log.warning("%s unreadable (%s): minute summaries start again from the WAL", path, e)
        return None
    return data if isinstance(data, dict) else None


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
