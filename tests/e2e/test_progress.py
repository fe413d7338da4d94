"""End to end through the real hub: a slow download (the agent's ``--max-bandwidth``) shows at the
hub as reason ``Downloading`` with bytes done of total, rate and ETA growing from one look to the
next, the site ``progressing``, never ``degraded`` or ``failed``, until it serves."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import build_demo, demo_source, predict_demo
from tests.support import Proc, aiedge_cmd, free_port, wait_http


def test_a_slow_download_is_downloading_at_the_hub_never_degraded(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "e2e-progress")
    (src.model / "NOTES.bin").write_bytes(os.urandom(6 << 20))  # a layer of its own, 6 MiB
    digest = build_demo(src, "slow")
    hub_port, site_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_cmd = aiedge_cmd(
        "hub", "--gitops", str(src.gitops), "--data", str(tmp_path / "hub"), "--port", str(hub_port),
        "--poll-interval", "1", "--insecure-no-auth",
    )  # fmt: skip
    agent_cmd = aiedge_cmd(
        "agent", "--hub", hub_url, "--site", "site-a", "--data", str(tmp_path / "site-a"),
        "--port-offset", str(site_port - 8080), "--poll-interval", "0.5", "--max-bandwidth", "1MiB/s",
    )  # fmt: skip
    hub = Proc(hub_cmd, tmp_path / "logs/hub.log")
    procs = [hub]
    seen: list[dict[str, Any]] = []
    try:
        wait_http(f"{hub_url}/api/v1/health")
        procs.append(Proc(agent_cmd, tmp_path / "logs/agent.log"))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            site = next(
                s for s in httpx.get(f"{hub_url}/api/v1/sites", timeout=5).json() if s["name"] == "site-a"
            )
            seen.append(site)
            if site["status"] == "healthy" and site["apps"] and site["apps"][0]["digest"] == digest:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"site-a never healthy: {seen[-1]}")
        assert predict_demo(f"http://127.0.0.1:{site_port}") == [6.5]
    finally:
        for p in reversed(procs):
            p.stop()
    apps = [s["apps"][0] for s in seen if s["apps"]]
    downloading = [a for a in apps if a.get("reason") == "Downloading"]
    assert len(downloading) >= 3, [(a.get("reason"), a.get("message")) for a in apps]
    done = [a["progress"]["done_bytes"] for a in downloading]
    assert done == sorted(done) and done[-1] > done[0]
    assert all(a["progress"]["total_bytes"] > 6 << 20 and a["target_digest"] == digest for a in downloading)
    assert any(a["progress"]["rate_bps"] and a["progress"]["eta_seconds"] is not None for a in downloading)
    assert all(s["status"] in ("never-seen", "progressing", "healthy") for s in seen), [
        s["status"] for s in seen
    ]
    assert all(a["health"] in ("progressing", "healthy") for a in apps), [
        (a["health"], a["message"]) for a in apps
    ]
