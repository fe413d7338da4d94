"""The agent's link meter: bytes by kind and UTC day, kept across restarts (the last 7 days); the
budget is the smaller of the flag's and the Site's; a download that does not fit in what is left
after the reserve waits (unless urgent) with a message naming the budget, and goes once it fits or
the day turns; raw metrics stop when the day's budget is spent; captured data waits at the site for
the budget (a real S3 server) and is counted when it goes; a counted-only budget defers nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiedge.agent.capture import CaptureUploader, pending
from aiedge.agent.link import LinkMeter
from aiedge.contracts import LinkBudget
from tests.e2e.test_capture import AWS, BUCKET, s3, start_s3
from tests.support import free_port


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 23, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_a_download_waits_for_the_budget_and_goes_when_the_day_turns(tmp_path: Path) -> None:
    clock = Clock()
    meter = LinkMeter(tmp_path / "link-usage.json", None, clock)
    assert meter.download_deferral("app m", 10**9, urgent=False) is None  # no budget: all goes
    meter.site_link = LinkBudget(budget=1_000_000)
    meter.add("control", sent=100_000, received=50_000)
    assert meter.download_deferral("app m", 500_000, urgent=False) is None  # 600 KB left after the reserve
    why = meter.download_deferral("app m", 700_000, urgent=False)
    assert why is not None and "link budget" in why and "683.6 KiB" in why and "2026-12-03 00:00Z" in why, why
    assert meter.usage().deferred == [f"app m: {why}"]
    assert meter.download_deferral("app m", 700_000, urgent=True) is None
    assert meter.raw_metrics_allowed()
    meter.add("downloads", received=900_000)
    assert meter.spent() and not meter.raw_metrics_allowed()
    assert "raw metrics" in " ".join(meter.usage().deferred)
    meter.save()

    clock.now += timedelta(hours=2)  # a new UTC day, a new budget; yesterday kept
    again = LinkMeter(tmp_path / "link-usage.json", None, clock)
    again.site_link = LinkBudget(budget=1_000_000)
    assert not again.spent() and again.download_deferral("app m", 700_000, urgent=False) is None
    again.add("status", sent=10)
    days = again.usage().days
    assert [str(d.day) for d in days] == ["2026-12-02", "2026-12-03"]
    assert days[0].total == 1_050_000 and days[0].kinds["downloads"].received == 900_000
    assert days[1].total == 10


def test_the_smaller_budget_wins_and_a_counted_one_defers_nothing() -> None:
    clock = Clock()
    meter = LinkMeter(None, 2_000_000, clock)
    meter.site_link = LinkBudget(budget=50_000_000, metered=False)
    assert meter.budget == 2_000_000 and meter.metered  # the flag is kept to
    counted = LinkMeter(None, None, clock)
    counted.site_link = LinkBudget(budget=1000, metered=False)
    counted.add("control", sent=5000)
    assert counted.spent() and counted.raw_metrics_allowed()
    assert counted.download_deferral("app m", 10**9, urgent=False) is None
    assert counted.usage().budget == 1000 and not counted.usage().metered


def test_an_unreadable_usage_file_counts_from_zero(tmp_path: Path) -> None:
    path = tmp_path / "link-usage.json"
    path.write_text('{"2026-12-02": {"control": [1, 2], "bogus": [1, 2], "status": "x"}, "nope": 1}')
    meter = LinkMeter(path, None, Clock())
    assert meter.used_today() == 3
    path.write_text("[not json")
    assert LinkMeter(path, None, Clock()).used_today() == 0


def test_captured_data_waits_at_the_site_for_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in AWS.items():
        monkeypatch.setenv(k, v)
    port = free_port()
    server = start_s3(tmp_path, port)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3(endpoint).create_bucket(Bucket=BUCKET)
        root = tmp_path / "capture"
        folder = root / "housing" / ("ab" * 32)
        folder.mkdir(parents=True)
        for i in range(3):
            (folder / f"20261202T22-42-{i}.jsonl").write_text('{"inputs": {"x": [1, 2, 3]}}\n' * 80)
        sizes = sum(p.path.stat().st_size for p in pending(root))
        clock = Clock()
        meter = LinkMeter(None, 20_000, clock)  # 15,000 bytes after the reserve
        meter.add("control", sent=14_000)
        uploader = CaptureUploader("site-a", root, f"s3://{BUCKET}/edge", endpoint, 1.0, meter=meter)
        assert asyncio.run(uploader.upload_round()) == 0
        assert len(pending(root)) == 3 and "Contents" not in s3(endpoint).list_objects_v2(Bucket=BUCKET)
        assert any(d.startswith("captured data: ") and "link budget" in d for d in meter.usage().deferred)

        clock.now += timedelta(hours=2)  # the day turns: a new budget
        assert asyncio.run(uploader.upload_round()) == 3
        assert pending(root) == [] and len(s3(endpoint).list_objects_v2(Bucket=BUCKET)["Contents"]) == 3
        usage = meter.usage()
        assert usage.days[-1].kinds["captures"].sent == sizes and not usage.deferred
    finally:
        server.stop()
