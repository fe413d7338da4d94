"""The shipped Grafana dashboard (deploy/grafana/edge-inference-health.json) queries only metric
names a running `aiedge serve` really exports, and the shipped Prometheus rules file is what
`aiedge hub alert-rules` prints today."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from aiedge.demo.model import write_demo_model
from tests.support import REPO_ROOT, Proc, aiedge_cmd, free_port, wait_http

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
