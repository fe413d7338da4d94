"""Turning the remote-write series sites send into the hub's per-minute history, and reading it back.

The arithmetic (increases, restarts, error and rejected outcomes, quantiles from buckets) is
:mod:`aiedge.telemetry.minutes`, the same the sites use to summarize their own scrapes; sites that
send summaries have them stored as they come (:meth:`History.put`). Storage is
:mod:`aiedge.hub.store.metrics`.

Each series' last value is kept in memory (:mod:`aiedge.hub.series`, bounded per site and
expired when idle); after a hub restart the first sample of a series only sets the baseline (one
scrape interval is not counted), as in Prometheus. Only series of an app and model the site's
desired state runs are folded: a site cannot make the hub keep rows or series for names it makes up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from aiedge.hub.series import NOT_DESIRED, UNKNOWN_SITE, SeriesTable
from aiedge.hub.store import MetricsStore, Minute
from aiedge.telemetry.minutes import (
    DURATION,
    Increase,
    app_series,
    apply,
    bucket_bound,
    histogram_quantile,
    increases,
)
from aiedge.telemetry.samples import Series

_KEEP_OPEN_MINUTES = 15

Key = tuple[str, str, str, int]
Allowed = Callable[[str], Collection[tuple[str, str]] | None]
"""A site's ``(app, model)`` pairs whose series are folded; None for a site not defined."""


class History:
    """Ingests series into minute rows; thread-safe (ingest runs in worker threads)."""

    def __init__(self, store: MetricsStore, series: SeriesTable | None = None) -> None:
        self.store = store
        self.series = series if series is not None else SeriesTable()
        self._open: dict[Key, Minute] = {}
        self._lock = threading.Lock()

    def ingest(self, series: Iterable[Series], allowed: Allowed | None = None) -> int:
        """Fold ``series`` into the history; how many minute rows changed. With ``allowed``, the
        series of other apps, models or sites are left out (and counted)."""
        series = list(series)
        check(series)
        pairs: dict[str, Collection[tuple[str, str]] | None] = {}
        with self._lock:
            self.series.expire()
            found: list[tuple[Key, Increase]] = []
            for s in series:
                found += self._increases(s, allowed, pairs)
            if not found:
                return 0
            missing = {key for key, _ in found if key not in self._open}
            self._open.update(self.store.load(missing))
            touched: dict[Key, Minute] = {}
            for key, inc in found:
                m = self._open.get(key)
                if m is None:
                    m = self._open[key] = Minute(*key)
                apply(m, inc)
                touched[key] = m
            self._save(touched)
            return len(touched)

    def put(self, minutes: Iterable[Minute]) -> int:
        """Store minutes a site summarized itself, each replacing what the history had for it (a
        site sends a minute again, whole, when a late sample changed it: resending is harmless)."""
        with self._lock:
            touched = {m.key: m for m in minutes}
            self._open.update(touched)
            self._save(touched)
            return len(touched)

    def _save(self, touched: dict[Key, Minute]) -> None:
        if not touched:
            return
        for m in touched.values():
            m.p50 = histogram_quantile(0.5, m.buckets)
            m.p99 = histogram_quantile(0.99, m.buckets)
        self.store.save(touched.values())
        newest = max(k[3] for k in self._open)
        for k in [k for k in self._open if k[3] < newest - _KEEP_OPEN_MINUTES]:
            del self._open[k]

    def _increases(
        self, s: Series, allowed: Allowed | None, pairs: dict[str, Collection[tuple[str, str]] | None]
    ) -> list[tuple[Key, Increase]]:
        where = app_series(s)
        if where is None:
            return []
        site = where.site
        if allowed is not None:
            if site not in pairs:
                pairs[site] = allowed(site)
            runs = pairs[site]
            if runs is None or (where.app, where.model) not in runs:
                self.series.drop(site, UNKNOWN_SITE if runs is None else NOT_DESIRED)
                return []
        if not self.series.admit(site, s.labels):
            return []
        found, last = increases(s, where, self.series.last(s.labels))
        if last is not None:
            self.series.set(site, s.labels, *last)
        return [((site, i.app, i.model, i.minute), i) for i in found]

    def forget_site(self, site: str) -> None:
        """Drop the in-memory baselines of a site (e.g. revoked)."""
        with self._lock:
            self.series.forget_site(site)

    def series_counts(self, site: str) -> dict[str, int]:
        """How many of ``site``'s series are followed, and how many were turned away by reason."""
        with self._lock:
            return {**self.series.dropped(site), "followed": self.series.followed(site)}


def check(series: Iterable[Series]) -> None:
    """Refuse a request the history cannot fold, before any of it is folded."""
    for s in series:
        if s.name == f"{DURATION}_bucket":
            bucket_bound(s)


def point(m: Minute) -> dict[str, float | int | None]:
    """One minute as the API and the dashboard show it (rates per second, latencies in ms)."""
    return {
        "t": m.minute * 60_000,
        "requests": m.requests,
        "errors": m.errors,
        "rejected": m.rejected,
        "rps": m.requests / 60.0,
        "error_rate": (m.errors / m.requests) if m.requests else 0.0,
        "rejected_rate": (m.rejected / m.requests) if m.requests else 0.0,
        "p50_ms": None if m.p50 is None else m.p50 * 1000,
        "p99_ms": None if m.p99 is None else m.p99 * 1000,
    }


@dataclass(slots=True)
class Totals:
    """Several minutes of one site/app taken together (for alerts and summaries)."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] | None = None
    rejected: float = 0.0

    def add(self, m: Minute | Totals) -> None:
        self.requests += m.requests
        self.errors += m.errors
        self.rejected += m.rejected
        buckets = self.buckets if self.buckets is not None else {}
        for le, c in (m.buckets or {}).items():
            buckets[le] = buckets.get(le, 0.0) + c
        self.buckets = buckets

    @property
    def error_rate(self) -> float:
        """Share of requests that failed on the server's side (5xx)."""
        return self.errors / self.requests if self.requests else 0.0

    @property
    def rejected_rate(self) -> float:
        """Share of requests refused as the client's mistake (4xx)."""
        return self.rejected / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float | None:
        return histogram_quantile(0.99, self.buckets or {})

    @property
    def p50(self) -> float | None:
        return histogram_quantile(0.5, self.buckets or {})

    def as_json(self, minutes: float) -> dict[str, float | None]:
        p50, p99 = self.p50, self.p99
        return {
            "requests": self.requests,
            "rps": self.requests / (minutes * 60.0),
            "error_rate": self.error_rate,
            "rejected_rate": self.rejected_rate,
            "p50_ms": None if p50 is None else p50 * 1000,
            "p99_ms": None if p99 is None else p99 * 1000,
        }


def totals(minutes: Iterable[Minute]) -> dict[tuple[str, str], Totals]:
    """Minutes summed per ``(site, app)``."""
    out: dict[tuple[str, str], Totals] = {}
    for m in minutes:
        out.setdefault((m.site, m.app), Totals()).add(m)
    return out
