"""Enrolment end to end, with the real hub (auth on, the default) and real agents: a join token
is traded once for the site's credential, which the agent keeps (mode 0600) and reuses after a
restart without the token; a spent token is refused with one clear line; an agent without any
credential is refused."""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import httpx

from aiedge.demo.gitops import prepare_gitops
from aiedge.demo.model import DEMO_MODEL_NAME, demo_test_data
from tests.hub.helpers import bearer, operator_token
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def _token(hub_data: Path, site: str) -> str:
    out = subprocess.run(
        aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub_data)),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def _seen(hub: str, site: str, op: dict[str, str]) -> bool:
    r = httpx.get(f"{hub}/api/v1/sites/{site}", timeout=5, headers=op)
    return r.status_code == 200 and r.json().get("last_seen") is not None


def test_join_token_is_traded_once_for_a_kept_credential(tmp_path: Path) -> None:
    test_data = tmp_path / "t.json"
    test_data.write_text(json.dumps(demo_test_data()))
    gitops = prepare_gitops(
        tmp_path / "gitops", model_name=DEMO_MODEL_NAME, repository="127.0.0.1:1/x/y", test_data=test_data
    )
    hub_data, port = tmp_path / "hub", free_port()
    hub_url = f"http://127.0.0.1:{port}"
    hub = Proc(
        aiedge_cmd("hub", "--gitops", str(gitops), "--data", str(hub_data), "--port", str(port)),
        tmp_path / "hub.log",
    )
    procs = [hub]
    try:
        wait_http(f"{hub_url}/api/v1/health")
        # no credential at all: refused
        assert httpx.get(f"{hub_url}/api/v1/sites/site-a/desired", timeout=5).status_code == 401

        token = _token(hub_data, "site-a")
        op = bearer(operator_token(hub_data, "read"))
        agent_data = tmp_path / "site-a"
        cmd = aiedge_cmd(
            "agent", "--hub", hub_url, "--site", "site-a", "--data", str(agent_data), "--poll-interval", "1"
        )
        agent = Proc([*cmd, "--token", token], tmp_path / "agent1.log")
        procs.append(agent)
        wait_until(lambda: _seen(hub_url, "site-a", op), timeout=120, what="site-a reporting")
        credential_file = agent_data / "credential"
        assert stat.S_IMODE(credential_file.stat().st_mode) == 0o600
        credential = credential_file.read_text().strip()
        assert credential and credential != token
        # the credential reads its own site only
        own = httpx.get(
            f"{hub_url}/api/v1/sites/site-a/desired",
            headers={"Authorization": f"Bearer {credential}"},
            timeout=5,
        )
        assert own.status_code == 200
        other = httpx.get(
            f"{hub_url}/api/v1/sites/site-b/desired",
            headers={"Authorization": f"Bearer {credential}"},
            timeout=5,
        )
        assert other.status_code == 403

        # restarted without the token, the agent uses its kept credential
        assert agent.stop() == 0

        def last_seen() -> str:
            return str(httpx.get(f"{hub_url}/api/v1/sites/site-a", timeout=5, headers=op).json()["last_seen"])

        before = last_seen()
        procs.append(Proc(cmd, tmp_path / "agent2.log"))
        wait_until(
            lambda: (
                httpx.get(f"{hub_url}/api/v1/sites/site-a", timeout=5, headers=op).json()["last_seen"]
                != before
            ),
            timeout=120,
            what="site-a reporting again",
        )

        # the spent token cannot enrol another agent
        spent = subprocess.run(
            [
                *aiedge_cmd("agent", "--hub", hub_url, "--site", "site-a", "--data", str(tmp_path / "thief")),
                "--token",
                token,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert spent.returncode == 1
        last = [ln for ln in spent.stderr.splitlines() if ln.strip()][-1]
        assert last.startswith("error: ") and "refused the join token" in last
        assert "Traceback" not in spent.stderr
    finally:
        for p in reversed(procs):
            p.stop()
