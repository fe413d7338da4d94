"""Alert rules and lifecycle: each rule fires on its condition and resolves when it clears, the
Alertmanager webhook body, and the Prometheus rules `aiedge hub alert-rules` prints (checked by
promtool when installed)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiedge.contracts import AppHealth, AppStatus, SiteStatus, SiteSummary
from aiedge.hub.alerts import Alerts, Thresholds, webhook_payload
from aiedge.hub.history import Totals
from tests.support import aiedge_cmd

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _site(name: str, seen_s_ago: float, message: str = "Ready: serving") -> SiteSummary:
    return SiteSummary(
        name=name,
        status=SiteStatus.HEALTHY,
        last_seen=NOW - timedelta(seconds=seen_s_ago),
        apps=[AppStatus(name="housing", health=AppHealth.HEALTHY, message=message)],
    )


def test_rules_fire_and_resolve() -> None:
    alerts = Alerts(Thresholds(site_unknown_after=300, error_rate=0.05, p99_seconds=0.5, min_requests=10))
    slow = Totals(requests=100, errors=10, buckets={0.1: 50.0, 1.0: 100.0, float("inf"): 100.0})
    quiet = Totals(requests=5, errors=5)  # under min_requests: no rate alert
    sites = [_site("site-a", 10), _site("site-b", 900), _site("site-c", 5, "SmokeTestFailed: $.x: 1 != 2")]
    fired = alerts.evaluate(sites, {("site-a", "housing"): slow, ("site-c", "housing"): quiet}, NOW)
    assert sorted((a.name, a.labels.get("site")) for a in fired) == [
        ("EdgeInferenceErrorRateHigh", "site-a"),
        ("EdgeInferenceLatencyHigh", "site-a"),
        ("EdgeSiteUnknown", "site-b"),
        ("EdgeSmokeTestFailed", "site-c"),
    ]
    assert all(a.starts_at == NOW and a.ends_at is None for a in fired)
    # still true a minute later: nothing changes, start times stay
    later = NOW + timedelta(minutes=1)
    assert alerts.evaluate(sites, {("site-a", "housing"): slow}, later) == []
    # everything clears: all four resolve
    healthy = [_site("site-a", 1), _site("site-b", 1), _site("site-c", 1)]
    resolved = alerts.evaluate(healthy, {}, later)
    assert len(resolved) == 4 and all(a.ends_at == later and a.starts_at == NOW for a in resolved)
    body = alerts.as_json()
    assert body["firing"] == [] and len(body["resolved"]) == 4


def test_webhook_payload_is_alertmanagers() -> None:
    alerts = Alerts()
    (alert,) = alerts.evaluate([_site("site-b", 900)], {}, NOW)
    body = webhook_payload([alert], "firing", "http://hub:8000")
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["commonLabels"] == {"alertname": "EdgeSiteUnknown", "severity": "critical", "site": "site-b"}
    (item,) = body["alerts"]
    assert item["labels"]["alertname"] == "EdgeSiteUnknown"
    assert item["startsAt"] == NOW.isoformat() and item["endsAt"] == "0001-01-01T00:00:00Z"
    assert set(item) == {
        *("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint")
    }


def test_alert_rules_command_prints_valid_prometheus_rules(tmp_path: Path) -> None:
    out = subprocess.run(aiedge_cmd("hub", "alert-rules"), capture_output=True, text=True, check=True)
    assert "EdgeInferenceErrorRateHigh" in out.stdout
    assert "aiedge_serve_request_duration_seconds_bucket" in out.stdout
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    rules = tmp_path / "rules.yml"
    rules.write_text(out.stdout)
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 4 rules found" in check.stdout
