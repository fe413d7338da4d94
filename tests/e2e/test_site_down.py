"""A site that goes dark, end to end: the agent of a healthy site is SIGKILLed; `aiedge status`
then shows the site as `unknown` (never healthy) and the hub fires EdgeSiteUnknown to its
Alertmanager-style webhook; the agent comes back and the alert resolves."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.helpers import build_demo, demo_source
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until
from tests.telemetry.appserver import serve_app

# Generous on purpose: the agent reports every second, but on a loaded 2-core CI machine a report
# can be late by several seconds; a 3 s window made a healthy site flap to unknown (seen in CI).
STALE_AFTER = "15"
UNKNOWN_AFTER = "20"


def _status(hub: str) -> dict[str, Any]:
    out = subprocess.run(
        aiedge_cmd("status", "--hub", hub, "--json"), capture_output=True, text=True, check=True, timeout=60
    )
    return {s["name"]: s for s in json.loads(out.stdout)}


def test_a_killed_site_turns_unknown_and_fires_an_alert(tmp_path: Path, registry: str) -> None:
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=200)

    src = demo_source(tmp_path, registry, "down")
    gitops = src.gitops
    build_demo(src, "1")

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as hook_base:
        port = free_port()
        hub_url = f"http://127.0.0.1:{port}"
        hub = Proc(
            aiedge_cmd(
                "hub",
                "--gitops",
                str(gitops),
                "--data",
                str(tmp_path / "hub"),
                "--port",
                str(port),
                "--insecure-no-auth",
                "--stale-after",
                STALE_AFTER,
                "--alert-webhook",
                f"{hook_base}/hook",
            ),
            tmp_path / "hub.log",
            env={"AIEDGE_HUB_ALERT_INTERVAL": "0.5", "AIEDGE_HUB_ALERT_SITE_UNKNOWN_AFTER": UNKNOWN_AFTER},
        )
        agent_cmd = aiedge_cmd(
            "agent",
            "--hub",
            hub_url,
            "--site",
            "site-a",
            "--data",
            str(tmp_path / "a"),
            "--port-offset",
            str(free_port() - 8080),
            "--poll-interval",
            "1",
        )
        procs = [hub, Proc(agent_cmd, tmp_path / "agent.log")]
        try:
            wait_http(f"{hub_url}/api/v1/health")
            wait_until(
                lambda: _status(hub_url)["site-a"]["status"] == "healthy", timeout=90, what="site-a healthy"
            )

            procs[1].kill()  # the site goes dark: no goodbye, no report
            wait_until(lambda: _status(hub_url)["site-a"]["status"] == "unknown", timeout=90, what="unknown")
            table = subprocess.run(
                aiedge_cmd("status", "--hub", hub_url), capture_output=True, text=True, timeout=120
            ).stdout
            row = next(line for line in table.splitlines() if "site-a" in line)
            assert "unknown" in row and "healthy" not in row.split("unknown")[0]

            def fired(status: str) -> bool:
                return any(
                    b["status"] == status
                    and any(
                        a["labels"].get("alertname") == "EdgeSiteUnknown"
                        and a["labels"].get("site") == "site-a"
                        for a in b["alerts"]
                    )
                    for b in received
                )

            wait_until(lambda: fired("firing"), timeout=90, what="EdgeSiteUnknown at the webhook")
            firing = httpx.get(f"{hub_url}/api/v1/alerts", timeout=5).json()["firing"]
            assert any(a["name"] == "EdgeSiteUnknown" for a in firing)

            procs.append(Proc(agent_cmd, tmp_path / "agent2.log"))  # the site comes back
            wait_until(lambda: _status(hub_url)["site-a"]["status"] == "healthy", timeout=90, what="back")
            wait_until(lambda: fired("resolved"), timeout=90, what="the alert to resolve")
        finally:
            for p in reversed(procs):
                p.stop()
