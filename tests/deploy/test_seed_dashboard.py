"""The seed's Grafana dashboard ("Edge inference health", seed-gitops acm/odh-core) against a real
Prometheus scraping a real `aiedge serve`: every panel's query returns data, with the seed's
OVMS/MLServer names derived at scrape time and the CPU/memory panels from
deploy/prometheus/seed-dashboard-rules.yml. Every name of the seed's ACM allowlist is exported or
documented as having no counterpart, and deploy/acm's allowlist names only exported series."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from aiedge.demo.model import write_demo_model
from aiedge.serve.metrics_ovms import NO_COUNTERPART
from tests.support import REPO_ROOT, Proc, aiedge_cmd, free_port, wait_http, wait_until
from tests.telemetry.promserver import Prometheus

DASHBOARD = "seed-gitops/acm/odh-core/acm-observability/grafana-dashboards/edge-inference-health.json"
SEED_ALLOWLIST = "seed-gitops/acm/odh-core/acm-observability/files/uwl_metrics_list.yaml"
RULES = REPO_ROOT / "deploy/prometheus/seed-dashboard-rules.yml"
OUR_ALLOWLIST = REPO_ROOT / "deploy/acm/observability-metrics-custom-allowlist.yaml"
MODEL = "tensorflow-housing"
VARIABLES = {"$cluster": "local-cluster", "$namespace": ".+", "$__rate_interval": "30s"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A real `aiedge serve` with a model, after a few good and bad requests of each REST protocol."""
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(write_demo_model(tmp_path / "m")),
            "--name",
            MODEL,
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ),
        tmp_path / "serve.log",
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/models/{MODEL}/ready", timeout=60)
        _traffic(url)
        yield url
    finally:
        proc.stop()


def _traffic(url: str) -> None:
    row = [1, 2, 3, 4, 5, 6, 7, 8]
    for _ in range(3):
        ok = httpx.post(f"{url}/v1/models/{MODEL}/versions/1:predict", json={"instances": [row]}, timeout=10)
        assert ok.status_code == 200, ok.text
    bad = httpx.post(f"{url}/v1/models/{MODEL}:predict", json={"instances": [[1]]}, timeout=10)
    assert bad.status_code == 400
    v2 = {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": row}]}
    assert httpx.post(f"{url}/v2/models/{MODEL}/infer", json=v2, timeout=10).status_code == 200


def _exported(url: str) -> set[str]:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"}


def _panel_queries() -> list[tuple[str, str]]:
    from tests.support import shared_dir

    dashboard = json.loads((shared_dir() / DASHBOARD).read_text())
    out = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for var, value in VARIABLES.items():
                expr = expr.replace(var, value)
            out.append((panel["title"], expr))
    return out


def test_seed_dashboard_panels_get_data(tmp_path: Path, server: str) -> None:
    queries = _panel_queries()
    assert {title for title, _ in queries} == {
        "CPU Usage",
        "Memory Usage",
        "OVMS Requests",
        "Inference Request Rate",
    }
    target = server.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                "job_name": "aiedge-serve",
                "static_configs": [
                    {"targets": [target], "labels": {"cluster": "local-cluster", "namespace": "housing"}}
                ],
            }
        ],
    }
    prom = Prometheus(tmp_path / "prometheus", config=json.dumps(config))
    prom.start()
    try:
        for title, expr in queries:
            # traffic between scrapes, so rate() over the window sees the counters move
            wait_until(
                lambda expr=expr: bool(_traffic(server) or _query(prom, expr)),
                timeout=120,
                interval=1,
                what=f"data for panel {title!r}: {expr}",
            )
        (success,) = _query(prom, 'sum(ovms_requests_success{cluster=~"local-cluster"}) by(namespace)')
        assert success["metric"] == {"namespace": "housing"} and float(success["value"][1]) >= 4
        (fail,) = _query(prom, 'sum(ovms_requests_fail{cluster=~"local-cluster"}) by(namespace)')
        assert float(fail["value"][1]) >= 1
        paths = {r["metric"]["path"] for r in _query(prom, "rest_server_requests_total")}
        assert paths == {f"/v1/models/{MODEL}:predict", f"/v2/models/{MODEL}/infer"}
    finally:
        prom.stop()


def _query(prom: Prometheus, expr: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = prom.api("query", {"query": expr})["result"]
    return result


def test_allowlists_match_what_is_exported(server: str, shared: Path) -> None:
    exported = _exported(server)
    seed = YAML(typ="safe").load((shared / SEED_ALLOWLIST).read_text())["names"]
    assert len(seed) == 22
    lost = [
        n
        for n in seed
        if n not in exported
        and n.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") not in NO_COUNTERPART
    ]
    assert not lost, f"seed allowlist names neither exported nor documented as missing: {lost}"
    ours = YAML(typ="safe").load(OUR_ALLOWLIST.read_text())
    names = YAML(typ="safe").load(ours["data"]["uwl_metrics_list.yaml"])["names"]
    assert not set(names) - exported, sorted(set(names) - exported)
    expected = {"ovms_requests_success", "ovms_request_time_us_bucket", "aiedge_serve_requests_total"}
    assert expected <= set(names)
