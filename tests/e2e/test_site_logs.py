"""Logs and diagnostics without inbound access, with real processes: a real hub (auth on), a real
agent enrolled with a join token, serving the demo model from a real registry. `aiedge logs` and
`aiedge diagnose` reach the site only through the hub: the hub queues the request, the agent's
desired-state poll ends and says so (the agent holds no second poll), and the agent fetches it and
posts a bounded, redacted answer. Credentials, tokens, age keys and
`password=` values written into the site's logs never leave it; `-f` follows new lines; the
operator routes need an admin token (a read token and a site's own credential are refused)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.helpers import build_demo, demo_source, enrolled_agent, predict_demo
from tests.hub.helpers import operator_token
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert out.returncode == 0, f"aiedge {' '.join(args)}: {out.stderr}"
    return out


def test_logs_and_diagnose_travel_over_the_sites_own_connection(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "logs")
    digest = build_demo(src, "v1")
    hub_port, site_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_data = tmp_path / "hub"
    hub = Proc(
        aiedge_cmd("hub", "--gitops", str(src.gitops), "--data", str(hub_data), "--port", str(hub_port)),
        tmp_path / "hub.log",
    )
    procs = [hub]
    data = tmp_path / "site-a"
    try:
        wait_http(f"{hub_url}/api/v1/health")
        agent = enrolled_agent(
            hub_url, hub_data, "site-a", data, tmp_path / "agent.log", "--port-offset", str(site_port - 8080)
        )
        procs.append(agent)
        url = f"http://127.0.0.1:{site_port}"
        wait_until(lambda: predict_demo(url) == [6.5], timeout=120, what="site-a serving")
        admin_file, reader_file = tmp_path / "admin.token", tmp_path / "read.token"
        admin_file.write_text(operator_token(hub_data, "admin"))
        reader_file.write_text(operator_token(hub_data, "read"))
        op = ("--hub", hub_url, "--token-file", str(admin_file))

        # secrets that reach the site's logs (a model server printing what it should not)
        credential = (data / "credential").read_text().strip()
        app_log = data / "logs" / "housing.log"
        with app_log.open("a") as f:
            f.write(f"leak: {credential}\n")
            f.write(
                "leak: Authorization: Bearer abcdefghijklmnop password=hunter2 AGE-SECRET-KEY-1QQQQQQQQ\n"
            )
            f.write(
                "-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24\n-----END AGE ENCRYPTED FILE-----\n"
            )
            f.write("marker: the model server's own line\n")

        # the agent holds one poll at the hub (its desired state), not a second one for requests:
        # its poll says when requests wait (every held poll is an open socket at the hub)
        def held() -> tuple[int, int]:
            health = httpx.get(f"{hub_url}/api/v1/health", timeout=10).json()
            return health["held_polls"], health["held_requests"]

        wait_until(lambda: held()[0] == 1, timeout=60, what="the agent's desired-state poll held")
        assert held() == (1, 0)  # before: (1, 1)

        t0 = time.monotonic()
        agent_lines = _cli("logs", "site-a", *op, "--lines", "50").stdout
        took = time.monotonic() - t0
        assert f"app housing: serving {digest}" in agent_lines, agent_lines
        print(f"\naiedge logs site-a answered in {took:.2f}s (CLI start included)")

        app_lines = _cli("logs", "site-a", "housing", *op, "--since", "10m").stdout
        assert "marker: the model server's own line" in app_lines
        for secret in (credential, "abcdefghijklmnop", "hunter2", "AGE-SECRET-KEY-1", "YWdlLWVuY3J5cHRpb24"):
            assert secret not in app_lines, secret
        assert "leak: [redacted]" in app_lines and "password=[redacted]" in app_lines

        diagnosis = json.loads(_cli("diagnose", "site-a", *op, "--json").stdout)
        (app,) = diagnosis["state"]["apps"]
        assert app["name"] == "housing" and app["serving"] == digest and app["reason"] == "Ready"
        assert diagnosis["cache"]["bytes"] > 0 and diagnosis["cache"]["disk_free"] > 0
        assert diagnosis["facts"]["cpus"] >= 1 and diagnosis["facts"]["arch"]
        assert credential not in json.dumps(diagnosis)
        human = _cli("diagnose", "site-a", *op).stdout
        assert "housing: Ready: serving" in human and "cache:" in human

        # an unknown app is the site's one-line answer; a site's credential is no operator
        bad = _cli("logs", "site-a", "nope", *op, check=False)
        assert bad.returncode == 1 and "this site runs no app 'nope'" in bad.stderr, bad.stderr
        r = httpx.post(
            f"{hub_url}/api/v1/sites/site-a/requests",
            json={"kind": "logs"},
            headers={"Authorization": f"Bearer {credential}"},
            timeout=10,
        )
        assert r.status_code in (401, 403), r.text
        read_only = _cli("logs", "site-a", "--hub", hub_url, "--token-file", str(reader_file), check=False)
        assert read_only.returncode == 1 and "refused the operator token" in read_only.stderr, (
            read_only.stderr
        )
        admin = {"Authorization": f"Bearer {admin_file.read_text().strip()}"}
        for spec in ({"kind": "logs", "lines": 10**9}, {"kind": "shell"}, {"kind": "logs", "since": "nan"}):
            r = httpx.post(f"{hub_url}/api/v1/sites/site-a/requests", json=spec, headers=admin, timeout=10)
            assert r.status_code == 422 and "error" in r.json(), r.text
        for path in ("requests/abc", "requests/999999"):
            assert (
                httpx.get(f"{hub_url}/api/v1/sites/site-a/{path}", headers=admin, timeout=10).status_code
                == 404
            )
        r = httpx.get(
            f"{hub_url}/api/v1/sites/site-a/requests", timeout=10
        )  # the site's side: its credential
        assert r.status_code == 401, r.text

        # -f: new lines as they are written
        follow = Proc(
            aiedge_cmd("logs", "site-a", "housing", *op, "-f", "--interval", "1"),
            tmp_path / "follow.log",
        )
        procs.append(follow)
        wait_until(
            lambda: "marker: the model server's own line" in follow.log(), timeout=60, what="first lines"
        )
        with app_log.open("a") as f:
            f.write("marker: a later line\n")
        wait_until(lambda: "marker: a later line" in follow.log(), timeout=60, what="followed line")
        assert follow.log().count("marker: the model server's own line") == 1
    finally:
        for p in reversed(procs):
            p.stop()
