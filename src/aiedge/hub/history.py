"""Turning the remote-write series sites send into the hub's per-minute history, and reading it back.

Owns the arithmetic: counters become increases (a drop in value is a restart: the new value is
the increase, as Prometheus' ``increase()`` does), attributed to the minute of the later sample;
errors are requests with outcome ``error`` or ``unavailable`` (the server's fault: 5xx), rejected
requests those with ``bad_request`` or ``not_found`` (the client's: 4xx), two separate rates;
p50/p99 come from the request-duration histogram buckets by linear interpolation within the
bucket (Prometheus' ``histogram_quantile``). Storage is :mod:`aiedge.hub.store.metrics`.

Each series' last value is kept in memory (:mod:`aiedge.hub.series`, bounded per site and
expired when idle); after a hub restart the first sample of a series only sets the baseline (one
scrape interval is not counted), as in Prometheus. Only series of an app and model the site's
desired state runs are folded: a site cannot make the hub keep rows or series for names it makes up.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from aiedge.hub.series import NOT_DESIRED, UNKNOWN_SITE, SeriesTable
from aiedge.hub.store import MetricsStore, Minute
from aiedge.telemetry.errors import BadWriteRequest
from aiedge.telemetry.samples import Series, label_value

REQUESTS = "aiedge_serve_requests_total"
DURATION = "aiedge_serve_request_duration_seconds"
ERROR_OUTCOMES = frozenset({"error", "unavailable"})
REJECTED_OUTCOMES = frozenset({"bad_request", "not_found"})
_KINDS = {
    REQUESTS: "requests",
    f"{DURATION}_bucket": "bucket",
    f"{DURATION}_sum": "sum",
    f"{DURATION}_count": "count",
}
_KEEP_OPEN_MINUTES = 15

Key = tuple[str, str, str, int]
Allowed = Callable[[str], Collection[tuple[str, str]] | None]
"""A site's ``(app, model)`` pairs whose series are folded; None for a site not defined."""


def histogram_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The ``q`` quantile of cumulative ``{le: count}`` buckets; None when empty."""
    if not buckets:
        return None
    ordered = sorted(buckets.items())
    total = ordered[-1][1]
    if total <= 0:
        return None
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower  # Prometheus answers the highest finite bound
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


@dataclass(frozen=True, slots=True)
class _Increase:
    key: Key
    version: str
    kind: str
    value: float
    outcome: str | None
    le: float | None


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
            increases: list[_Increase] = []
            for s in series:
                increases += self._increases(s, allowed, pairs)
            if not increases:
                return 0
            missing = {i.key for i in increases if i.key not in self._open}
            self._open.update(self.store.load(missing))
            touched: dict[Key, Minute] = {}
            for inc in increases:
                m = self._open.get(inc.key)
                if m is None:
                    m = self._open[inc.key] = Minute(*inc.key)
                _apply(m, inc)
                touched[inc.key] = m
            for m in touched.values():
                m.p50 = histogram_quantile(0.5, m.buckets)
                m.p99 = histogram_quantile(0.99, m.buckets)
            self.store.save(touched.values())
            newest = max(k[3] for k in self._open)
            for k in [k for k in self._open if k[3] < newest - _KEEP_OPEN_MINUTES]:
                del self._open[k]
            return len(touched)

    def _increases(
        self, s: Series, allowed: Allowed | None, pairs: dict[str, Collection[tuple[str, str]] | None]
    ) -> list[_Increase]:
        kind = _KINDS.get(s.name or "")
        if kind is None:
            return []
        site, app = label_value(s.labels, "site"), label_value(s.labels, "app")
        if not site or not app:
            return []
        model = label_value(s.labels, "model") or ""
        if allowed is not None:
            if site not in pairs:
                pairs[site] = allowed(site)
            runs = pairs[site]
            if runs is None or (app, model) not in runs:
                self.series.drop(site, UNKNOWN_SITE if runs is None else NOT_DESIRED)
                return []
        if not self.series.admit(site, s.labels):
            return []
        version = label_value(s.labels, "version") or ""
        outcome = label_value(s.labels, "outcome")
        le = bucket_bound(s) if kind == "bucket" else None
        out: list[_Increase] = []
        last = self.series.last(s.labels)
        for ts, value in s.samples:
            if not math.isfinite(value):
                continue  # NaN is a staleness marker; an infinite count is nobody's traffic
            if last is not None and ts <= last[0]:
                continue  # a resent or out-of-order sample: already counted
            if last is not None:
                delta = value - last[1] if value >= last[1] else value
                if delta > 0:
                    out.append(_Increase((site, app, model, ts // 60_000), version, kind, delta, outcome, le))
            last = (ts, value)
        if last is not None:
            self.series.set(site, s.labels, *last)
        return out

    def forget_site(self, site: str) -> None:
        """Drop the in-memory baselines of a site (e.g. revoked)."""
        with self._lock:
            self.series.forget_site(site)

    def series_counts(self, site: str) -> dict[str, int]:
        """How many of ``site``'s series are followed, and how many were turned away by reason."""
        with self._lock:
            return {**self.series.dropped(site), "followed": self.series.followed(site)}


def bucket_bound(s: Series) -> float | None:
    """The ``le`` of a histogram bucket series; :class:`BadWriteRequest` when it is not a number."""
    text = label_value(s.labels, "le")
    if text is None:
        return None
    try:
        le = float(text)
    except ValueError:
        le = math.nan
    if math.isnan(le):
        raise BadWriteRequest(f"{s.name}: le={text[:40]!r} is not a number (a bucket's upper bound)")
    return le


def check(series: Iterable[Series]) -> None:
    """Refuse a request the history cannot fold, before any of it is folded."""
    for s in series:
        if s.name == f"{DURATION}_bucket":
            bucket_bound(s)


def _apply(m: Minute, inc: _Increase) -> None:
    if inc.version:
        m.version = inc.version
    if inc.kind == "requests":
        m.requests += inc.value
        if inc.outcome in ERROR_OUTCOMES:
            m.errors += inc.value
        elif inc.outcome in REJECTED_OUTCOMES:
            m.rejected += inc.value
    elif inc.kind == "bucket" and inc.le is not None:
        m.buckets[inc.le] = m.buckets.get(inc.le, 0.0) + inc.value
    elif inc.kind == "sum":
        m.latency_sum += inc.value
    elif inc.kind == "count":
        m.latency_count += inc.value


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
