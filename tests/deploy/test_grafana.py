"""The shipped Grafana dashboard (deploy/grafana/edge-inference-health.json) queries only metric
names a running `aiedge serve` really exports, its server-error and rejected-request panels give
the hub's two rates (run against a real Prometheus and a real hub), and the shipped Prometheus
rules file is what `aiedge hub alert-rules` prints today."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiedge.demo.model import write_demo_model
from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_series
from aiedge.telemetry.samples import Series, make_labels
from tests.gitops.helpers import make_repo
from tests.hub.helpers import launch_hub
from tests.support import REPO_ROOT, Proc, aiedge_cmd, free_port, wait_http
from tests.telemetry.promserver import Prometheus

DASHBOARD = REPO_ROOT / "deploy/grafana/edge-inference-health.json"
RULES = REPO_ROOT / "deploy/prometheus/aiedge-alerts.yml"
METRIC = re.compile(r"\b((?:aiedge_serve|process)_[a-z_]+)\b")


def _exported(tmp_path: Path) -> set[str]:
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(write_demo_model(tmp_path / "m")),
            "--name",
            "demo",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ),
        tmp_path / "serve.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/models/demo/ready", timeout=60)
        httpx.post(f"{url}/v1/models/demo:predict", json={"instances": [[0] * 8]})
        text = httpx.get(f"{url}/metrics").text
    finally:
        proc.stop()
    return {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }


def test_dashboard_queries_exported_metrics(tmp_path: Path) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert {
        "aiedge_serve_requests_total",
        "aiedge_serve_request_duration_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    } <= used
    missing = used - _exported(tmp_path)
    assert not missing, f"the dashboard queries metrics the server does not export: {sorted(missing)}"
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"site", "app"}


def test_shipped_alert_rules_are_current() -> None:
    out = subprocess.run(
        aiedge_cmd("hub", "alert-rules"), capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout == RULES.read_text(), (
        "regenerate: aiedge hub alert-rules > deploy/prometheus/aiedge-alerts.yml"
    )


def _panel_expr(dashboard: dict[str, Any], title: str) -> str:
    (panel,) = [p for p in dashboard["panels"] if p["title"].startswith(title)]
    (target,) = panel["targets"]
    expr: str = target["expr"]
    return expr.replace("$site", ".*").replace("$app", ".*").replace("$__rate_interval", "5m")


def test_the_error_panels_agree_with_the_hub(tmp_path: Path) -> None:
    """Server errors (5xx) and rejected requests (4xx) are two rates in the Grafana dashboard as at
    the hub: the same counters, remote-written to a real Prometheus and to a real hub, give the
    same two shares from the dashboard's queries and from the hub's summary."""
    dashboard = json.loads(DASHBOARD.read_text())
    prom = Prometheus(tmp_path / "prom")
    prom.start()
    hub = launch_hub(tmp_path, make_repo(tmp_path / "gitops"), "--insecure-no-auth")
    try:
        now_ms = time.time_ns() // 1_000_000
        target = {"site": "site-a", "app": "housing", "model": "tensorflow-housing", "version": "v1"}
        counts = {"success": 140.0, "error": 20.0, "unavailable": 0.0, "bad_request": 30.0, "not_found": 10.0}
        series = [
            Series(
                make_labels("aiedge_serve_requests_total", {**target, "outcome": outcome, "protocol": "v2"}),
                [(now_ms - 30_000, 0.0), (now_ms, value)],
            )
            for outcome, value in counts.items()
        ]
        body = encode_series(series)
        for url in (prom.write_url, f"{hub.url}/api/v1/metrics/write"):
            assert httpx.post(url, content=body, headers=REMOTE_WRITE_HEADERS, timeout=30).status_code in (
                200,
                204,
            )
        at = f"{now_ms / 1000:.3f}"
        shares = {}
        for title in ("Server errors (5xx)", "Rejected requests (4xx)"):
            (result,) = prom.api("query", {"query": _panel_expr(dashboard, title), "time": at})["result"]
            shares[title] = float(result["value"][1])
        recent = httpx.get(f"{hub.url}/api/v1/metrics/summary").json()["sites"]["site-a"]["housing"]
    finally:
        hub.proc.stop()
        prom.stop()
    assert recent["error_rate"] == 0.10 and recent["rejected_rate"] == 0.20
    assert shares["Server errors (5xx)"] == pytest.approx(recent["error_rate"], rel=1e-9)
    assert shares["Rejected requests (4xx)"] == pytest.approx(recent["rejected_rate"], rel=1e-9)
    pie = next(p for p in dashboard["panels"] if p["type"] == "piechart")
    assert [t["legendFormat"] for t in pie["targets"]] == ["success", "server errors (5xx)", "rejected (4xx)"]
