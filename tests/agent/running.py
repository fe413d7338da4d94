"""Helpers for the tests that run the agent as a real process against the fake hub: desired
states, the agent's command line, predictions through a site port, the agent's model-server
children (to kill them), and report checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from aiedge.contracts import AppHealth, DesiredApp, DesiredState, StatusReport
from tests.agent.images import predict_body
from tests.support import Proc, aiedge_cmd


def state(site: str, revision: int, *apps: DesiredApp) -> DesiredState:
    return DesiredState(site=site, revision=f"main@sha1:{revision:040x}", apps=list(apps))


def agent_proc(
    hub_url: str, site: str, data: Path, log: Path, *extra: str, env: dict[str, str] | None = None
) -> Proc:
    """``aiedge agent`` polling every 0.5 s (plus ``extra`` flags), as a real child process."""
    cmd = aiedge_cmd("agent", "--hub", hub_url, "--site", site, "--data", str(data), "--poll-interval", "0.5")
    return Proc([*cmd, *extra], log, env=env)


def predict(port: int) -> float:
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/models/tiny/versions/1:predict", json=predict_body(), timeout=10
    )
    assert r.status_code == 200, r.text
    return float(r.json()["predictions"][0][0])


def serving(port: int, value: float) -> bool:
    try:
        return predict(port) == pytest.approx(value)
    except (httpx.HTTPError, AssertionError):
        return False


def healthy_on(digest: str) -> Callable[[StatusReport], bool]:
    def check(r: StatusReport) -> bool:
        return bool(r.apps) and r.apps[0].digest == digest and r.apps[0].health is AppHealth.HEALTHY

    return check


def serve_children(parent: int) -> list[int]:
    """PIDs of the ``aiedge serve`` processes ``parent`` started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"serve" in cmdline:
            pids.append(int(entry.name))
    return pids
