"""The hub's observability against a real `aiedge hub` process: remote-write into the hub with a
site credential (and refused for another site's samples or without one), the metrics, apps and
rollouts API, a smoke-test alert firing and resolving in the API and at a fake Alertmanager
webhook (a real server), and the dashboard's files."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_series
from aiedge.telemetry.samples import Series, make_labels
from tests.hub.helpers import bearer
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until
from tests.telemetry.appserver import serve_app


def _series(site: str, now_ms: int) -> list[Series]:
    target = {"site": site, "app": "housing", "model": "tensorflow-housing", "version": "sha256:0123456789ab"}
    t0 = now_ms - 30_000
    ok = make_labels("aiedge_serve_requests_total", {**target, "outcome": "success", "protocol": "v2"})
    bad = make_labels("aiedge_serve_requests_total", {**target, "outcome": "error", "protocol": "v2"})
    return [Series(ok, [(t0, 10.0), (now_ms, 70.0)]), Series(bad, [(t0, 0.0), (now_ms, 3.0)])]


def _write(url: str, series: list[Series], credential: str | None) -> httpx.Response:
    headers = dict(REMOTE_WRITE_HEADERS)
    if credential:
        headers["Authorization"] = f"Bearer {credential}"
    return httpx.post(f"{url}/api/v1/metrics/write", content=encode_series(series), headers=headers)


def _report(url: str, credential: str, reason: str, message: str) -> None:
    app = {"name": "housing", "digest": "sha256:" + "ab" * 32, "health": "degraded", "reason": reason}
    body = {
        "site": "site-a",
        "apps": [{**app, "message": f"{reason}: {message}"}],
        "time": datetime.now(UTC).isoformat(),
    }
    r = httpx.post(
        f"{url}/api/v1/sites/site-a/status", json=body, headers={"Authorization": f"Bearer {credential}"}
    )
    assert r.status_code == 204, r.text


@pytest.fixture
def webhook() -> Any:
    received: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=200)

    with serve_app(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as url:
        yield f"{url}/hook", received


def test_metrics_alerts_and_dashboard(repo: Path, tmp_path: Path, webhook: Any) -> None:
    hook_url, received = webhook
    port, data = free_port(), tmp_path / "hub"
    url = f"http://127.0.0.1:{port}"
    hub = Proc(
        aiedge_cmd(
            "hub", "--gitops", str(repo), "--data", str(data), "--port", str(port),
            "--poll-interval", "0.2", "--alert-webhook", hook_url,
        ),
        tmp_path / "hub.log",
        env={"AIEDGE_HUB_ALERT_INTERVAL": "0.3"},
    )  # fmt: skip
    try:
        wait_http(f"{url}/api/v1/health")
        token = aiedge_cmd("hub", "token", "create", "--site", "site-a", "--data", str(data))
        join = subprocess.run(token, capture_output=True, text=True, check=True).stdout.strip()
        credential = httpx.post(f"{url}/api/v1/enroll", json={"token": join}).json()["credential"]
        operator = aiedge_cmd("hub", "operator", "create", "ops", "--role", "read", "--data", str(data))
        read = subprocess.run(operator, capture_output=True, text=True, check=True).stdout.strip()
        op = httpx.Client(headers=bearer(read))  # the operator API needs an operator token
        now_ms = time.time_ns() // 1_000_000

        # a site writes its own samples; not another site's, not without a credential
        assert _write(url, _series("site-a", now_ms), credential).status_code == 204
        refused = _write(url, _series("site-b", now_ms), credential)
        assert refused.status_code == 403 and "site-a" in refused.json()["error"]
        assert _write(url, _series("site-a", now_ms), None).status_code == 401

        metrics = op.get(f"{url}/api/v1/sites/site-a/metrics", params={"range": "1h"}).json()
        (app,) = metrics["apps"]
        assert (app["app"], app["model"]) == ("housing", "tensorflow-housing")
        assert app["version"] == "sha256:0123456789ab"
        assert sum(p["requests"] for p in app["points"]) == 63
        assert sum(p["errors"] for p in app["points"]) == 3
        assert op.get(f"{url}/api/v1/sites/site-a/metrics", params={"range": "soon"}).status_code == 400
        assert op.get(f"{url}/api/v1/sites/nowhere/metrics").status_code == 404
        summary = op.get(f"{url}/api/v1/metrics/summary").json()
        assert summary["sites"]["site-a"]["housing"]["requests"] == 63
        apps = op.get(f"{url}/api/v1/apps").json()
        assert [a["name"] for a in apps] == ["housing"]
        assert op.get(f"{url}/api/v1/apps/nothing").status_code == 404
        assert op.get(f"{url}/api/v1/rollouts").json() == []

        # a failed smoke test fires, at the API and the webhook; a good report resolves it
        _report(url, credential, "SmokeTestFailed", "$.predictions[0]: expected 6.5, got 7")

        def firing() -> list[dict[str, Any]]:
            body: list[dict[str, Any]] = op.get(f"{url}/api/v1/alerts").json()["firing"]
            return [a for a in body if a["name"] == "EdgeSmokeTestFailed"]

        wait_until(lambda: len(firing()) == 1, timeout=15, what="the smoke-test alert")
        assert firing()[0]["labels"] == {"site": "site-a", "app": "housing"}
        wait_until(lambda: any(b["status"] == "firing" for b in received), timeout=15, what="the webhook")
        _report(url, credential, "Ready", "serving")
        wait_until(lambda: not firing(), timeout=15, what="the alert to resolve")
        wait_until(lambda: any(b["status"] == "resolved" for b in received), timeout=15, what="resolved")
        (resolved,) = [b for b in received if b["status"] == "resolved"]
        assert resolved["alerts"][0]["labels"]["alertname"] == "EdgeSmokeTestFailed"
        assert resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"

        # the dashboard: the page and its files, from the package
        page = httpx.get(f"{url}/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        for name in ("app.js", "chart.js", "app.css"):
            assert httpx.get(f"{url}/static/{name}").status_code == 200
        op.close()
    finally:
        hub.stop()
