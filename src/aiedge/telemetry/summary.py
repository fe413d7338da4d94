"""The site's per-minute summaries of its apps: what the hub's history and alerts need (requests,
5xx and 4xx counts, latency sum, count and buckets per app, model and minute), added up at the
site from its raw scrapes with the hub's own arithmetic (:mod:`aiedge.telemetry.minutes`), so
only a few hundred bytes a minute cross the link instead of every scraped series.

:class:`Summarizer` is pure (no I/O, no clock): fed samples in the order they were scraped, it
keeps each series' baseline and the minutes being added up; a minute is finished once samples
``grace_ms`` past its end have been seen, and :meth:`Summarizer.take` hands out the finished ones
not yet sent. A late sample for a finished minute (kept ``keep_minutes``) makes it go again,
whole: receivers replace a minute, so sending one twice is harmless. Its state round-trips
through JSON (:meth:`Summarizer.state`, :meth:`Summarizer.from_state`) so that a restarted agent
picks up its baselines where it left off.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from aiedge.contracts import AppMinute
from aiedge.telemetry.minutes import Baseline, MinuteFigures, app_series, apply, increases
from aiedge.telemetry.samples import Labels, Sample, group_series

MinuteKey = tuple[str, str, int]
"""``(app, model, minute)``; the site is the summarizer's."""

_BASELINE_IDLE_MS = 3600_000  # a series silent this long (an app removed) is forgotten


@dataclass(frozen=True, slots=True)
class Summary:
    key: MinuteKey
    figures: MinuteFigures


class Summarizer:
    def __init__(self, grace_ms: int = 2_000, keep_minutes: int = 15) -> None:
        self.grace_ms = grace_ms
        self.keep_minutes = keep_minutes
        self.last: dict[Labels, Baseline] = {}
        self.open: dict[MinuteKey, MinuteFigures] = {}
        self.closed: dict[MinuteKey, MinuteFigures] = {}
        self.unsent: set[MinuteKey] = set()
        self.watermark_ms = 0

    def feed(self, samples: Iterable[Sample]) -> None:
        for s in group_series(samples):
            if s.samples:
                self.watermark_ms = max(self.watermark_ms, s.samples[-1][0])
            where = app_series(s)
            if where is None:
                continue
            found, last = increases(s, where, self.last.get(s.labels))
            if last is not None:
                self.last[s.labels] = last
            for inc in found:
                key = (inc.app, inc.model, inc.minute)
                m = self.open.get(key) or self.closed.get(key)
                if m is None:
                    m = self.open[key] = MinuteFigures()
                apply(m, inc)
                if key in self.closed:
                    self.unsent.add(key)  # a late sample: the finished minute goes again

    def take(self) -> list[Summary]:
        """The minutes finished (or changed since sent) and not yet sent, oldest first."""
        finished_before = (self.watermark_ms - self.grace_ms) // 60_000
        for key in [k for k in self.open if k[2] < finished_before]:
            self.closed[key] = self.open.pop(key)
            self.unsent.add(key)
        ordered = sorted(self.unsent, key=lambda k: (k[2], k[0], k[1]))
        return [Summary(k, self.closed[k]) for k in ordered]

    def sent(self, summaries: Iterable[Summary]) -> None:
        for s in summaries:
            self.unsent.discard(s.key)
        oldest = self.watermark_ms // 60_000 - self.keep_minutes
        for key in [k for k in self.closed if k[2] < oldest and k not in self.unsent]:
            del self.closed[key]
        idle = self.watermark_ms - _BASELINE_IDLE_MS
        for labels in [lb for lb, (ts, _) in self.last.items() if ts < idle]:
            del self.last[labels]

    def copy(self) -> Summarizer:
        return copy.deepcopy(self)

    # -- state on disk -------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        def minutes(d: dict[MinuteKey, MinuteFigures]) -> list[Any]:
            return [[*k, _figures_json(m)] for k, m in d.items()]

        return {
            "watermark_ms": self.watermark_ms,
            "last": [[[list(p) for p in labels], ts, v] for labels, (ts, v) in self.last.items()],
            "open": minutes(self.open),
            "closed": minutes(self.closed),
            "unsent": [list(k) for k in self.unsent],
        }

    @classmethod
    def from_state(cls, data: dict[str, Any], grace_ms: int = 2_000, keep_minutes: int = 15) -> Summarizer:
        """A summarizer from :meth:`state`; ``ValueError`` (or ``KeyError``, ``TypeError``) when the
        data is not one."""
        out = cls(grace_ms, keep_minutes)
        out.watermark_ms = int(data["watermark_ms"])
        for labels, ts, v in data["last"]:
            out.last[tuple((str(n), str(val)) for n, val in labels)] = (int(ts), float(v))
        for name in ("open", "closed"):
            target = out.open if name == "open" else out.closed
            for app, model, minute, figures in data[name]:
                target[(str(app), str(model), int(minute))] = _figures_of(figures)
        out.unsent = {(str(a), str(m), int(n)) for a, m, n in data["unsent"]} & out.closed.keys()
        return out


def _figures_json(m: MinuteFigures) -> dict[str, Any]:
    d = asdict(m)
    d["buckets"] = [[repr(le), c] for le, c in m.buckets.items()]
    return d


def _figures_of(d: dict[str, Any]) -> MinuteFigures:
    buckets = {float(le): float(c) for le, c in d.get("buckets", [])}
    return MinuteFigures(
        version=str(d.get("version", "")),
        requests=float(d.get("requests", 0.0)),
        errors=float(d.get("errors", 0.0)),
        rejected=float(d.get("rejected", 0.0)),
        latency_sum=float(d.get("latency_sum", 0.0)),
        latency_count=float(d.get("latency_count", 0.0)),
        buckets=buckets,
    )


# -- the wire ------------------------------------------------------------------------------


def to_wire(s: Summary) -> AppMinute:
    """A summary as the contract carries it: the buckets that counted requests, as ascending finite
    bounds and their cumulative counts (the ``+Inf`` one last), exactly what the minute holds."""
    app, model, minute = s.key
    m = s.figures
    finite = sorted(le for le in m.buckets if math.isfinite(le))
    counts = [m.buckets[le] for le in finite]
    if math.inf in m.buckets:
        counts.append(m.buckets[math.inf])
    return AppMinute(
        app=app,
        model=model,
        version=m.version,
        minute=minute,
        requests=m.requests,
        errors=m.errors,
        rejected=m.rejected,
        latency_sum=m.latency_sum,
        latency_count=m.latency_count,
        le=finite,
        counts=counts,
    )


def buckets_of(minute: AppMinute) -> dict[float, float]:
    """``{le: cumulative count}`` of a minute off the wire (``+Inf`` included when sent)."""
    return dict(zip([*minute.le, math.inf], minute.counts, strict=False))
