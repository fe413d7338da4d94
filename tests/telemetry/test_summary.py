"""The site's minute summaries against the hub's own history: the same scrapes fed to a
:class:`Summarizer` (and through the wire message) and to the hub's :class:`History` over a real
SQLite database give the same minutes (requests, 5xx, 4xx, latency sum and count, buckets, p50/p99),
with counter restarts, a state saved and restored mid-way (an agent restart), a late sample that
sends a finished minute again, and hostile wire messages refused."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from pydantic import ValidationError

from aiedge.contracts import AppMinute
from aiedge.hub.history import History
from aiedge.hub.store import MetricsStore, Minute, open_engine
from aiedge.telemetry.samples import Sample, group_series, make_labels
from aiedge.telemetry.summary import Summarizer, buckets_of, to_wire

BASE = 1_800_000_000_000 - (1_800_000_000_000 % 60_000)
TARGET = {"site": "site-a", "app": "housing", "model": "housing-demo", "version": "sha256:2f56a511daef"}
BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "+Inf")
OUTCOMES = ("success", "error", "bad_request", "not_found", "unavailable")


def _scrapes(minutes: int, interval_ms: int = 15_000, seed: int = 7) -> list[list[Sample]]:
    """A model server's counters scraped every interval: random traffic per outcome, a latency
    histogram, and a restart (every counter back to small values) in the middle."""
    rng = random.Random(seed)
    counts = dict.fromkeys(OUTCOMES, 0.0)
    buckets = dict.fromkeys(BOUNDS, 0.0)
    total_s = 0.0
    out = []
    for i in range(minutes * 60_000 // interval_ms):
        ts = BASE + i * interval_ms + rng.randrange(0, 50)
        if i == minutes * 60_000 // interval_ms // 2:  # the server restarted
            counts = dict.fromkeys(OUTCOMES, 0.0)
            buckets = dict.fromkeys(BOUNDS, 0.0)
            total_s = 0.0
        n = 0
        for outcome in OUTCOMES:
            k = rng.randrange(0, 200 if outcome == "success" else 8)
            counts[outcome] += k
            n += k
        for _ in range(n):
            latency = rng.expovariate(80.0)
            total_s += latency
            for le in BOUNDS:
                if le == "+Inf" or latency <= float(le):
                    buckets[le] += 1
        scrape = [
            Sample(
                make_labels("aiedge_serve_requests_total", {**TARGET, "outcome": o, "protocol": "v2"}), ts, v
            )
            for o, v in counts.items()
        ]
        duration = "aiedge_serve_request_duration_seconds"
        scrape += [
            Sample(make_labels(f"{duration}_bucket", {**TARGET, "le": le, "protocol": "v2"}), ts, v)
            for le, v in buckets.items()
        ]
        scrape.append(Sample(make_labels(f"{duration}_sum", {**TARGET, "protocol": "v2"}), ts, total_s))
        scrape.append(
            Sample(make_labels(f"{duration}_count", {**TARGET, "protocol": "v2"}), ts, buckets["+Inf"])
        )
        scrape.append(Sample(make_labels("up", TARGET), ts, 1.0))
        out.append(scrape)
    return out


def _hub(tmp_path: Path, name: str) -> History:
    return History(MetricsStore(open_engine(f"sqlite:///{tmp_path / name}")))


def _rows(history: History) -> dict[int, tuple[object, ...]]:
    return {
        m.minute: (
            m.requests,
            m.errors,
            m.rejected,
            round(m.latency_sum, 9),
            m.latency_count,
            m.buckets,
            m.p50,
            m.p99,
        )
        for m in history.store.query(0)
    }


def test_summaries_give_the_minutes_the_hub_computes_from_raw_series(tmp_path: Path) -> None:
    scrapes = _scrapes(6)
    raw = _hub(tmp_path, "raw.db")
    raw.ingest(group_series(s for scrape in scrapes for s in scrape))

    site = Summarizer()
    for scrape in scrapes[:10]:
        site.feed(scrape)
    # the agent restarts: its state goes through JSON and on
    site = Summarizer.from_state(json.loads(json.dumps(site.state())))
    for scrape in scrapes[10:]:
        site.feed(scrape)
    finished = site.take()
    site.sent(finished)
    assert [s.key[2] - BASE // 60_000 for s in finished] == [0, 1, 2, 3, 4]  # the 6th is not over yet

    summed = _hub(tmp_path, "summed.db")
    wire = [AppMinute.model_validate_json(to_wire(s).model_dump_json()) for s in finished]
    summed.put(
        Minute("site-a", m.app, m.model, m.minute, m.version, m.requests, m.errors, m.latency_sum,
               m.latency_count, buckets_of(m), rejected=m.rejected)
        for m in wire
    )  # fmt: skip
    want, got = _rows(raw), _rows(summed)
    assert got and all(got[minute] == want[minute] for minute in got)
    assert all(row[1] > 0 and row[2] > 0 and row[7] is not None for row in got.values())


def test_a_late_sample_sends_a_finished_minute_again_whole() -> None:
    labels = make_labels("aiedge_serve_requests_total", {**TARGET, "outcome": "success"})
    other = make_labels("aiedge_serve_requests_total", {**TARGET, "app": "other", "outcome": "success"})
    site = Summarizer()
    site.feed([Sample(labels, BASE, 0), Sample(other, BASE, 0), Sample(labels, BASE + 30_000, 10)])
    site.feed([Sample(labels, BASE + 62_500, 15)])  # past the minute and its grace
    (first,) = site.take()
    assert first.key == ("housing", "housing-demo", BASE // 60_000) and first.figures.requests == 10
    site.sent([first])
    assert site.take() == []
    site.feed([Sample(other, BASE + 59_000, 4)])  # another target's sample, scraped before the end
    again = site.take()
    assert [(s.key[0], s.figures.requests) for s in again] == [("other", 4)]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"app": "a", "minute": 1, "requests": -1}, "greater than or equal to 0"),
        ({"app": "a", "minute": 1, "requests": "inf"}, "finite number"),
        ({"app": "a", "minute": 1, "le": [0.1, 0.05], "counts": [1, 2]}, "ascending"),
        ({"app": "a", "minute": 1, "le": [0.1], "counts": [1, 2, 3]}, "3 values for 1 bounds"),
        ({"app": "a", "minute": 1, "le": [0.1] * 65, "counts": []}, "at most 64 items"),
        ({"app": "", "minute": 1}, "at least 1 character"),
    ],
)
def test_hostile_minutes_are_refused_naming_the_field(body: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        AppMinute.model_validate_json(json.dumps(body))
