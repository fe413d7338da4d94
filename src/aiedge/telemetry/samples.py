"""The in-memory sample types every telemetry module shares: labels, one sample, one series.

A label set is a tuple of ``(name, value)`` pairs sorted by name, ``__name__`` included, so it
is hashable and in the order remote-write requires. Timestamps are milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

METRIC_NAME = "__name__"


def make_labels(name: str | None = None, labels: Mapping[str, str] | None = None) -> Labels:
    """A sorted label set from a metric name and a mapping (``name`` wins over ``__name__``)."""
    items = dict(labels or {})
    if name is not None:
        items[METRIC_NAME] = name
    return tuple(sorted(items.items()))


def label_value(labels: Labels, name: str) -> str | None:
    for n, v in labels:
        if n == name:
            return v
    return None


@dataclass(frozen=True, slots=True)
class Sample:
    """One value of one series at one time."""

    labels: Labels
    timestamp_ms: int
    value: float


@dataclass(slots=True)
class Series:
    """One series and its samples as ``(timestamp_ms, value)`` pairs, oldest first."""

    labels: Labels
    samples: list[tuple[int, float]] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        return label_value(self.labels, METRIC_NAME)


def group_series(samples: Iterable[Sample]) -> list[Series]:
    """Samples grouped into series (first-seen order), each series' samples sorted oldest first."""
    by_labels: dict[Labels, Series] = {}
    for s in samples:
        series = by_labels.get(s.labels)
        if series is None:
            series = by_labels[s.labels] = Series(s.labels)
        series.samples.append((s.timestamp_ms, s.value))
    for series in by_labels.values():
        # Stable sort: appends are almost always already in order, which sorts in linear time.
        series.samples.sort(key=_timestamp)
    return list(by_labels.values())


def _timestamp(pair: tuple[int, float]) -> int:
    return pair[0]
