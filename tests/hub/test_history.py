"""The hub's per-minute metrics history over a real SQLite database: counter increases (with
restarts and resent samples), error outcomes, p50/p99 from histogram buckets, minutes merged
across several writes and across a restart of the hub, and retention; only the series of a site's
own apps and models are folded, at most so many per site, forgotten when idle (issue 12 point 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.hub.history import History, histogram_quantile
from aiedge.hub.series import SeriesTable
from aiedge.hub.store import MetricsStore, open_engine
from aiedge.telemetry.samples import Series, make_labels

BASE = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)  # a minute boundary, in ms
TARGET = {"site": "site-a", "app": "housing", "model": "housing-demo", "version": "sha256:2f56a511daef"}


def _requests(outcome: str, points: list[tuple[int, float]]) -> Series:
    labels = make_labels("aiedge_serve_requests_total", {**TARGET, "outcome": outcome, "protocol": "v2"})
    return Series(labels, [(BASE + t, v) for t, v in points])


def _bucket(le: str, points: list[tuple[int, float]]) -> Series:
    labels = make_labels("aiedge_serve_request_duration_seconds_bucket", {**TARGET, "le": le})
    return Series(labels, [(BASE + t, v) for t, v in points])


@pytest.fixture
def store(tmp_path: Path) -> MetricsStore:
    return MetricsStore(open_engine(f"sqlite:///{tmp_path / 'hub.db'}"))


def test_counters_become_increases_per_minute(store: MetricsStore) -> None:
    history = History(store)
    history.ingest(
        [
            # first sample is the baseline; a drop to 3 is a restart that counts 3
            _requests("success", [(0, 100), (15_000, 110), (30_000, 130), (45_000, 3), (60_000, 10)]),
            _requests("error", [(0, 5), (30_000, 7)]),
            _requests("bad_request", [(0, 0), (30_000, 50)]),  # the client's fault: not an error
        ]
    )
    first, second = store.query(BASE // 60_000)
    assert (first.minute, first.requests, first.errors) == (BASE // 60_000, 10 + 20 + 3 + 2 + 50, 2)
    assert (second.requests, second.errors) == (7, 0)
    assert first.version == "sha256:2f56a511daef"
    # samples already seen (a resent batch) change nothing; a later one adds to its minute
    history.ingest([_requests("success", [(30_000, 130), (45_000, 3), (70_000, 25)])])
    assert [m.requests for m in store.query(BASE // 60_000)] == [85, 7 + 15]


def test_latency_quantiles_from_buckets_survive_a_hub_restart(store: MetricsStore) -> None:
    buckets = {"0.005": 90.0, "0.01": 98.0, "0.1": 100.0, "+Inf": 100.0}
    History(store).ingest([_bucket(le, [(0, 0.0), (10_000, n / 2)]) for le, n in buckets.items()])
    # a new History (the hub restarted) sets baselines again, then merges into the stored minute
    History(store).ingest([_bucket(le, [(20_000, 0.0), (30_000, n / 2)]) for le, n in buckets.items()])
    (m,) = store.query(0)
    assert m.buckets == {0.005: 90.0, 0.01: 98.0, 0.1: 100.0, float("inf"): 100.0}
    assert m.p50 == pytest.approx(0.005 * 50 / 90)
    assert m.p99 == pytest.approx(0.01 + 0.09 * (99 - 98) / 2)


def test_histogram_quantile_edges() -> None:
    assert histogram_quantile(0.5, {}) is None
    assert histogram_quantile(0.5, {1.0: 0.0, float("inf"): 0.0}) is None
    # everything above the last finite bound: Prometheus answers that bound
    assert histogram_quantile(0.99, {1.0: 0.0, float("inf"): 10.0}) == 1.0


def test_retention_drops_old_minutes(store: MetricsStore) -> None:
    History(store).ingest([_requests("success", [(0, 0), (30_000, 5), (3_600_000, 9)])])
    assert len(store.query(0)) == 2
    assert store.delete_before(BASE // 60_000 + 30) == 1
    assert [m.minute for m in store.query(0)] == [BASE // 60_000 + 60]


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _extra(i: int, points: list[tuple[int, float]], **labels: str) -> Series:
    """A request counter of the target with one more label, ``i`` apart: a new series each."""
    names = {**TARGET, "outcome": "success", "x": str(i), **labels}
    return Series(make_labels("aiedge_serve_requests_total", names), [(BASE + t, v) for t, v in points])


def test_only_the_sites_apps_and_models_are_folded(store: MetricsStore) -> None:
    history = History(store)
    runs = {"site-a": {("housing", "housing-demo")}}
    history.ingest(
        [
            _extra(0, [(0, 0), (10_000, 5)]),
            _extra(1, [(0, 0), (10_000, 7)], app="made-up"),
            _extra(2, [(0, 0), (10_000, 9)], model="other"),
            _extra(3, [(0, 0), (10_000, 11)], site="nowhere"),
        ],
        runs.get,
    )
    (m,) = store.query(0)
    assert (m.site, m.app, m.model, m.requests) == ("site-a", "housing", "housing-demo", 5)
    assert history.series_counts("site-a") == {"followed": 1, "not_desired": 2, "series_limit": 0}
    assert history.series.dropped_unknown_site == 1


def test_series_are_capped_per_site_and_expire_when_idle(store: MetricsStore) -> None:
    ticks = Ticks()
    history = History(store, SeriesTable(max_per_site=100, idle_seconds=600, clock=ticks))
    history.ingest([_extra(i, [(0, 0), (10_000, 1)]) for i in range(1000)])
    assert history.series_counts("site-a") == {"followed": 100, "not_desired": 0, "series_limit": 900}
    assert len(history.series) == 100
    (m,) = store.query(0)
    assert m.requests == 100  # the series past the cap are not folded either
    # a followed series keeps its place and keeps counting
    history.ingest([_extra(0, [(20_000, 4)])])
    assert store.query(0)[0].requests == 103
    # ten idle minutes later every series is forgotten and new ones are followed again
    ticks.now = 601.0
    history.ingest([_extra(5000, [(30_000, 0), (40_000, 2)])])
    assert len(history.series) == 1
    assert history.series_counts("site-a")["followed"] == 1
    assert store.query(0)[0].requests == 105
