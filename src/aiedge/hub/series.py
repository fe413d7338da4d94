"""The series the hub's history follows in memory (each one's last sample, the baseline of its next
increase), bounded: at most ``max_per_site`` series per site, each forgotten once no sample has
come for it in ``idle_seconds``; and the count of what was turned away, per site and reason.

A site can label its samples as it likes, so without a bound one site sending 100,000 distinct
label sets grew the hub by 300 MiB for good. Which label values a site may use at all (its desired
apps and models) is :mod:`aiedge.hub.history`'s check; this module only counts and bounds.
Not thread-safe by itself: the history calls it under its lock.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from aiedge.telemetry.samples import Labels

log = logging.getLogger("aiedge.hub")

# why a series was turned away (the keys of the counts the API shows)
NOT_DESIRED = "not_desired"  # its app/model is not one the site's desired state runs
SERIES_LIMIT = "series_limit"  # the site already has max_per_site series
UNKNOWN_SITE = "unknown_site"  # labelled with a site the current revision does not define


@dataclass(slots=True)
class _Entry:
    site: str
    timestamp_ms: int
    value: float
    seen: float  # clock() when its last sample came


class SeriesTable:
    """Last samples by label set, per-site caps, idle expiry, drop counts."""

    def __init__(
        self,
        max_per_site: int = 10_000,
        idle_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_per_site = max_per_site
        self.idle_seconds = idle_seconds
        self._clock = clock
        self._entries: dict[Labels, _Entry] = {}
        self._per_site: Counter[str] = Counter()
        self._dropped: dict[str, Counter[str]] = {}
        self._unknown_site = 0
        self._next_sweep = clock() + self._sweep_every

    @property
    def _sweep_every(self) -> float:
        return min(60.0, self.idle_seconds / 4)

    def last(self, labels: Labels) -> tuple[int, float] | None:
        e = self._entries.get(labels)
        return None if e is None else (e.timestamp_ms, e.value)

    def admit(self, site: str, labels: Labels) -> bool:
        """Whether ``labels`` is followed or may be: False (and counted) past the site's cap."""
        if labels in self._entries or self._per_site[site] < self.max_per_site:
            return True
        self.drop(site, SERIES_LIMIT)
        return False

    def set(self, site: str, labels: Labels, timestamp_ms: int, value: float) -> None:
        e = self._entries.get(labels)
        if e is None:
            self._entries[labels] = _Entry(site, timestamp_ms, value, self._clock())
            self._per_site[site] += 1
        else:
            e.timestamp_ms, e.value, e.seen = timestamp_ms, value, self._clock()

    def drop(self, site: str, reason: str, n: int = 1) -> None:
        if reason == UNKNOWN_SITE:  # not per site: the names are the sender's, unbounded
            if not self._unknown_site:
                log.warning("metrics: series labelled with a site the revision does not define dropped")
            self._unknown_site += n
            return
        counts = self._dropped.setdefault(site, Counter())
        if not counts[reason]:
            log.warning("metrics of site %s: series dropped (%s), counted in its metrics API", site, reason)
        counts[reason] += n

    def expire(self) -> int:
        """Forget the series idle for ``idle_seconds`` (at most one pass a minute); how many went."""
        now = self._clock()
        if now < self._next_sweep:
            return 0
        self._next_sweep = now + self._sweep_every
        idle = [k for k, e in self._entries.items() if now - e.seen > self.idle_seconds]
        for k in idle:
            self._per_site[self._entries.pop(k).site] -= 1
        return len(idle)

    def forget_site(self, site: str) -> None:
        for k in [k for k, e in self._entries.items() if e.site == site]:
            del self._entries[k]
        self._per_site.pop(site, None)

    def followed(self, site: str) -> int:
        """How many series of ``site`` are followed now."""
        return self._per_site[site]

    def dropped(self, site: str) -> dict[str, int]:
        """Series turned away for ``site`` since the hub started, by reason."""
        counts = self._dropped.get(site, Counter())
        return {NOT_DESIRED: counts[NOT_DESIRED], SERIES_LIMIT: counts[SERIES_LIMIT]}

    @property
    def dropped_unknown_site(self) -> int:
        return self._unknown_site

    def __len__(self) -> int:
        return len(self._entries)
