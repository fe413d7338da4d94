"""The per-minute arithmetic over an app's serving series, in one place for both ends of the link:
the site summarizes its raw scrapes with it (:mod:`aiedge.telemetry.summary`) and the hub folds
remote-written series with it (``aiedge.hub.history``), so both compute the same figures.

Counters become increases (a drop in value is a restart: the new value is the increase, as
Prometheus' ``increase()`` does), attributed to the minute of the later sample; the first sample
of a series only sets its baseline. Errors are requests with outcome ``error`` or ``unavailable``
(the server's fault: 5xx), rejected requests those with ``bad_request`` or ``not_found`` (the
client's: 4xx), two separate counts; p50/p99 come from the request-duration histogram buckets by
linear interpolation within the bucket (Prometheus' ``histogram_quantile``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from aiedge.telemetry.errors import BadWriteRequest
from aiedge.telemetry.samples import Series, label_value

REQUESTS = "aiedge_serve_requests_total"
DURATION = "aiedge_serve_request_duration_seconds"
ERROR_OUTCOMES = frozenset({"error", "unavailable"})
REJECTED_OUTCOMES = frozenset({"bad_request", "not_found"})
KINDS = {
    REQUESTS: "requests",
    f"{DURATION}_bucket": "bucket",
    f"{DURATION}_sum": "sum",
    f"{DURATION}_count": "count",
}

Baseline = tuple[int, float]
"""A series' last sample: ``(timestamp_ms, value)``."""


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


@dataclass(frozen=True, slots=True)
class Increase:
    """How much one series of an app grew within one minute."""

    app: str
    model: str
    minute: int
    version: str
    kind: str
    value: float
    outcome: str | None
    le: float | None


@dataclass(frozen=True, slots=True)
class AppSeries:
    """A series that feeds the minute figures, with the labels that place it."""

    site: str
    app: str
    model: str
    kind: str


def app_series(s: Series) -> AppSeries | None:
    """Where ``s`` goes, or None for a series the figures do not use (or one without site/app)."""
    kind = KINDS.get(s.name or "")
    if kind is None:
        return None
    site, app = label_value(s.labels, "site"), label_value(s.labels, "app")
    if not site or not app:
        return None
    return AppSeries(site, app, label_value(s.labels, "model") or "", kind)


def increases(s: Series, where: AppSeries, last: Baseline | None) -> tuple[list[Increase], Baseline | None]:
    """The increases of ``s`` after its baseline ``last``, and its new baseline."""
    version = label_value(s.labels, "version") or ""
    outcome = label_value(s.labels, "outcome")
    le = bucket_bound(s) if where.kind == "bucket" else None
    out: list[Increase] = []
    for ts, value in s.samples:
        if not math.isfinite(value):
            continue  # NaN is a staleness marker; an infinite count is nobody's traffic
        if last is not None and ts <= last[0]:
            continue  # a resent or out-of-order sample: already counted
        if last is not None:
            delta = value - last[1] if value >= last[1] else value
            if delta > 0:
                out.append(
                    Increase(where.app, where.model, ts // 60_000, version, where.kind, delta, outcome, le)
                )
        last = (ts, value)
    return out, last


class Figures(Protocol):
    """What one app's minute holds (the hub's stored minute, the site's summary)."""

    version: str
    requests: float
    errors: float
    rejected: float
    latency_sum: float
    latency_count: float
    buckets: dict[float, float]


def apply(m: Figures, inc: Increase) -> None:
    """Add ``inc`` to the minute it belongs to."""
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


@dataclass(slots=True)
class MinuteFigures:
    """One app's minute as the site adds it up."""

    version: str = ""
    requests: float = 0.0
    errors: float = 0.0
    rejected: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
