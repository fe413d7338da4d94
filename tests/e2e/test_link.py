"""Thin links, end to end: a real registry, hub and agent, the agent's link to the hub through a
counting proxy. An idle site sends no status report and no metrics, only its polls, and stays seen;
a busy one sends one small summary a minute, and what the hub then shows per minute (requests,
5xx, 4xx, p50, p99) is what the hub computes from the site's raw series, kept in its WAL; the
4xx-rate alert fires from the summaries."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiedge.hub.history import History
from aiedge.hub.store import MetricsStore, open_engine
from aiedge.telemetry.samples import group_series
from aiedge.telemetry.wal import Wal
from tests.e2e.helpers import build_demo, demo_source
from tests.linkproxy import LinkProxy
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


class Traffic:
    """Predicts at a site port from a thread, every other one malformed (a 400)."""

    def __init__(self, url: str) -> None:
        self.url = f"{url}/v1/models/housing-demo/versions/1:predict"
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.wait(0.05):
                row = [1, 2, 3, 4, 5, 6, 7, 8] if self.sent % 2 else [1, 2]
                with contextlib.suppress(httpx.HTTPError):
                    http.post(self.url, json={"instances": [row]})
                self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def _site(hub: str) -> dict[str, Any]:
    site: dict[str, Any] = httpx.get(f"{hub}/api/v1/sites/site-a", timeout=10).json()
    return site


def _minutes(hub: str) -> dict[int, dict[str, Any]]:
    r = httpx.get(f"{hub}/api/v1/sites/site-a/metrics", params={"range": "1h"}, timeout=10).json()
    return {p["t"] // 60_000: p for a in r["apps"] for p in a["points"]}


def test_idle_polls_only_busy_sends_minutes_the_hub_reads_as_from_raw(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "e2e-link")
    build_demo(src, "1")
    hub_port, site_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub = Proc(
        aiedge_cmd(
            "hub", "--gitops", str(src.gitops), "--data", str(tmp_path / "hub"), "--port", str(hub_port),
            "--poll-interval", "1", "--insecure-no-auth", "--stale-after", "10",
        ),
        tmp_path / "logs/hub.log",
        env={"AIEDGE_HUB_ALERT_INTERVAL": "1", "AIEDGE_HUB_ALERT_WINDOW": "600"},
    )  # fmt: skip
    procs = [hub]
    link = LinkProxy(f"127.0.0.1:{hub_port}")
    data = tmp_path / "site-a"
    try:
        wait_http(f"{hub_url}/api/v1/health")
        agent = Proc(
            aiedge_cmd(
                "agent", "--hub", f"http://{link.address}", "--site", "site-a", "--data", str(data),
                "--port-offset", str(site_port - 8080), "--poll-interval", "0.5", "--scrape-interval", "2",
            ),
            tmp_path / "logs/agent.log",
        )  # fmt: skip
        procs.append(agent)
        wait_until(lambda: _site(hub_url)["status"] == "healthy", timeout=180, what="site-a healthy")

        idle = link.snapshot()
        seen = []
        for _ in range(8):  # 24 s idle: more than two stale-after windows
            seen.append(_site(hub_url)["status"])
            time.sleep(3)
        quiet = link.snapshot().minus(idle)
        assert seen == ["healthy"] * 8  # seen through its polls alone
        assert quiet.requests["status"] == 0 and quiet.requests["metrics"] == 0, quiet.requests
        assert 2 <= quiet.requests["control"] <= 6, quiet.requests
        assert quiet.total() < 400 * quiet.requests["control"], (quiet.total(), quiet.requests)

        traffic = Traffic(f"http://127.0.0.1:{site_port}")
        busy = link.snapshot()
        try:
            wait_until(
                lambda: sum(1 for p in _minutes(hub_url).values() if p["requests"]) >= 2,
                timeout=240,
                interval=2,
                what="two minutes of traffic at the hub",
            )

            def rejected_alert() -> bool:
                firing = httpx.get(f"{hub_url}/api/v1/alerts", timeout=10).json()["firing"]
                return any(a["name"] == "EdgeInferenceRejectedRateHigh" for a in firing)

            wait_until(rejected_alert, timeout=60, what="EdgeInferenceRejectedRateHigh from the summaries")
        finally:
            traffic.stop()
        sent = link.snapshot().minus(busy)
        agent.stop()  # its WAL is ours to read now
        at_hub = _minutes(hub_url)
    finally:
        for p in reversed(procs):
            p.stop()
        link.close()
    # a summary a minute, a few hundred bytes each (a raw scrape of this app alone is ~40 KB)
    assert 1 <= sent.requests["metrics"] <= 6, sent.requests
    assert sent.total("metrics") < 1500 * sent.requests["metrics"], sent.total("metrics")

    wal = Wal(data / "telemetry")
    start = wal.position("test-reader")
    samples = []
    while (batch := wal.read_at(start, 5000)).samples:
        samples += batch.samples
        start = batch.end
    wal.close()
    raw = History(MetricsStore(open_engine(f"sqlite:///{tmp_path / 'raw.db'}")))
    raw.ingest(group_series(samples))
    want = {m.minute: m for m in raw.store.query(0)}
    assert at_hub and set(at_hub) <= set(want), (sorted(at_hub), sorted(want))
    for minute, p in at_hub.items():
        m = want[minute]
        assert (p["requests"], p["errors"], p["rejected"]) == (m.requests, m.errors, m.rejected), minute
        assert p["p50_ms"] == pytest.approx(None if m.p50 is None else m.p50 * 1000)
        assert p["p99_ms"] == pytest.approx(None if m.p99 is None else m.p99 * 1000)
    assert any(p["rejected"] > 0 and p["requests"] > p["rejected"] for p in at_hub.values())
