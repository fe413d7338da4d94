"""How far one image's download has come: bytes on disk (cached ones included) out of what the
manifest lists, the rate over the last few seconds and the time left at that rate. The status
report carries its :meth:`DownloadProgress.snapshot`; :func:`logging_progress` writes a log
line at a fixed interval while a download runs, stalls included.

The clock is passed in (``time.monotonic`` by default), so nothing here reads global time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiedge.agent.tasks import alongside
from aiedge.contracts import Progress

T = TypeVar("T")

RATE_WINDOW_S = 10.0


def format_bytes(n: float) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def format_seconds(s: float) -> str:
    s = round(s)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class DownloadProgress:
    """Bytes of one image's blobs held so far; fed by the registry client's progress callback."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_begin: Callable[[DownloadProgress], None] | None = None,
        on_finish: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._on_begin = on_begin
        self._on_finish = on_finish
        self.total: int | None = None
        self.done = 0
        self.cached = 0
        self.finished = False
        self.started = clock()
        self._samples: deque[tuple[float, int]] = deque([(self.started, 0)])

    def begin(self, total: int, cached: int) -> None:
        """The manifest is read: ``total`` bytes in all, ``cached`` of them already on disk."""
        self.total, self.cached, self.done = total, cached, cached
        self.started = self._clock()
        self._samples = deque([(self.started, cached)])
        if self._on_begin is not None:
            self._on_begin(self)

    def add(self, n: int) -> None:
        self.done = max(0, self.done + n)
        now = self._clock()
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and self._samples[1][0] < now - RATE_WINDOW_S:
            self._samples.popleft()

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            if self._on_finish is not None:
                self._on_finish()

    @property
    def rate(self) -> float | None:
        """Bytes per second over the last ~10 s (None until some time has passed)."""
        now = self._clock()
        since, done_then = self._samples[0]
        if now - since < 0.5:
            return None
        return max(0.0, (self.done - done_then) / (now - since))

    @property
    def eta(self) -> float | None:
        rate = self.rate
        if self.total is None or not rate:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def snapshot(self) -> Progress:
        rate = self.rate
        return Progress(done_bytes=self.done, total_bytes=self.total, rate_bps=rate, eta_seconds=self.eta)

    def summary(self) -> str:
        """``140.0 MiB in 70.1 s (2.0 MiB/s), 10.0 MiB more cached``"""
        took = max(1e-9, self._clock() - self.started)
        fetched = self.done - self.cached
        text = f"{format_bytes(fetched)} in {took:.1f} s ({format_bytes(fetched / took)}/s)"
        return text + (f", {format_bytes(self.cached)} more cached" if self.cached else "")

    def describe(self) -> str:
        """``12.0 MiB of 150.0 MiB (8%), 2.0 MiB/s, about 1m04s left``"""
        if self.total is None:
            return f"{format_bytes(self.done)} so far"
        pct = 100 * self.done / self.total if self.total else 100.0
        text = f"{format_bytes(self.done)} of {format_bytes(self.total)} ({pct:.0f}%)"
        rate, eta = self.rate, self.eta
        if rate is not None:
            text += f", {format_bytes(rate)}/s"
            text += f", about {format_seconds(eta)} left" if eta is not None else ", stalled"
        return text


async def logging_progress(
    work: Coroutine[Any, Any, T], progress: DownloadProgress, log: logging.Logger, what: str, interval: float
) -> T:
    """Await ``work``, logging ``what: downloading ...`` every ``interval`` seconds until it ends
    or the download finishes (a stalled download is logged too: nothing arriving is news)."""

    async def tick() -> None:
        while True:
            await asyncio.sleep(interval)
            if progress.finished:
                return
            log.info("%s: downloading, %s", what, progress.describe())

    return await alongside(work, tick(), name=f"progress {what}")
