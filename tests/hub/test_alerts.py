"""Alert rules and lifecycle, pure (no server): each rule fires on its condition and resolves when
it clears, decisions read the typed reason (never the message), server errors and rejected
requests are two rates, stopped rollouts and a GitOps HEAD not served alert; the Alertmanager
webhook body, and the Prometheus rules `aiedge hub alert-rules` prints (checked by promtool)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiedge.contracts import AppHealth, AppReason, AppStatus, SiteStatus, SiteSummary
from aiedge.hub.alerts import Alerts, GitopsProblem, StoppedRollout, Thresholds, check, webhook_payload
from aiedge.hub.history import Totals
from tests.support import aiedge_cmd

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _site(
    name: str, seen_s_ago: float, message: str = "Ready: serving", reason: AppReason = AppReason.READY
) -> SiteSummary:
    return SiteSummary(
        name=name,
        status=SiteStatus.HEALTHY,
        last_seen=NOW - timedelta(seconds=seen_s_ago),
        apps=[AppStatus(name="housing", health=AppHealth.HEALTHY, message=message, reason=reason)],
    )


def test_rules_fire_and_resolve() -> None:
    alerts = Alerts(Thresholds(site_unknown_after=300, error_rate=0.05, p99_seconds=0.5, min_requests=10))
    slow = Totals(requests=100, errors=10, buckets={0.1: 50.0, 1.0: 100.0, float("inf"): 100.0})
    quiet = Totals(requests=5, errors=5)  # under min_requests: no rate alert
    failed = _site("site-c", 5, "$.x: 1 != 2", AppReason.SMOKE_TEST_FAILED)
    sites = [_site("site-a", 10), _site("site-b", 900), failed]
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


def test_alerts_read_the_reason_never_the_message() -> None:
    t = Thresholds()
    words = _site("site-a", 1, "SmokeTestFailed: but the reason says otherwise", AppReason.READY)
    assert check([words], {}, NOW, t) == []
    old_agent = _site("site-a", 1, "SmokeTestFailed: an agent older than reasons", AppReason.UNKNOWN)
    assert check([old_agent], {}, NOW, t) == []


def test_server_errors_and_rejected_requests_are_two_rates() -> None:
    t = Thresholds(error_rate=0.05, rejected_rate=0.25, min_requests=10)
    clients_wrong = Totals(requests=100, errors=1, rejected=40)
    server_wrong = Totals(requests=100, errors=20, rejected=0)
    fired = check([], {("site-a", "housing"): clients_wrong, ("site-b", "housing"): server_wrong}, NOW, t)
    assert sorted((a.name, a.labels["site"]) for a in fired) == [
        ("EdgeInferenceErrorRateHigh", "site-b"),
        ("EdgeInferenceRejectedRateHigh", "site-a"),
    ]
    (rejected,) = [a for a in fired if a.name == "EdgeInferenceRejectedRateHigh"]
    assert (
        rejected.summary == "housing at site-a: 40.0% of requests rejected" and rejected.severity == "warning"
    )
    assert "(4xx)" in rejected.description


def test_a_stopped_rollout_and_a_gitops_head_not_served_alert() -> None:
    stopped = StoppedRollout("housing", "near-edge", "sha256:" + "3" * 64, 1, "SmokeTestFailed: $.x: 1 != 2")
    held = GitopsProblem(
        "held", "main@sha1:bad", "placements/p.yaml:9:5: would remove app housing", "main@sha1:good"
    )
    fired = {a.name: a for a in check([], {}, NOW, Thresholds(), [stopped], held)}
    assert set(fired) == {"EdgeRolloutStopped", "GitopsRemovalHeld"}
    r = fired["EdgeRolloutStopped"]
    assert r.labels == {"app": "housing", "placement": "near-edge"} and r.severity == "critical"
    assert "stopped: 1 sites failed" in r.summary and "aiedge rollout retry housing" in r.description
    g = fired["GitopsRemovalHeld"]
    assert g.summary == (
        "GitOps revision main@sha1:bad is held: it would remove apps from sites; still serving main@sha1:good"
    )
    assert g.description == held.message
    rejected = GitopsProblem("rejected", "main@sha1:bad", "apps/a.yaml:3:1: bad", "main@sha1:good")
    (only,) = check([], {}, NOW, Thresholds(), [], rejected)
    assert only.name == "GitopsRevisionRejected" and "is invalid" in only.summary
    # the lifecycle: resolved once the rollout is retried and the revision published
    alerts = Alerts()
    assert len(alerts.evaluate([], {}, NOW, [stopped], held)) == 2
    assert {a.name for a in alerts.evaluate([], {}, NOW, [], None) if a.ends_at} == set(fired)


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
    assert "SUCCESS: 5 rules found" in check.stdout
