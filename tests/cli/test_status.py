"""`aiedge status --hub URL` as a real process against a real hub: the table, --json, and one
clear line with exit 1 when the hub is unreachable."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd, free_port


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("status", *args),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_table_and_json(repo: Path, start_hub: StartHub) -> None:
    hub = start_hub(repo, "--insecure-no-auth")
    report = {
        "site": "site-a",
        "observed_revision": "main@sha1:" + "1" * 40,
        "time": datetime.now(UTC).isoformat(),
    }
    assert httpx.post(f"{hub.url}/api/v1/sites/site-a/status", json=report).status_code == 204
    r = _status("--hub", hub.url, "--json")
    assert r.returncode == 0, r.stderr
    sites = json.loads(r.stdout)
    assert [s["name"] for s in sites] == ["site-a", "site-b", "site-c"]
    assert sites[0]["status"] == "healthy" and sites[1]["status"] == "never-seen"
    table = _status("--hub", hub.url)
    assert table.returncode == 0, table.stderr
    assert "site-a" in table.stdout and "healthy" in table.stdout and "never" in table.stdout
    assert "main@sha1:111111111111" in table.stdout


def test_unreachable_hub_is_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    r = _status("--hub", url)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.startswith(f"error: cannot reach the hub at {url}") and r.stderr.count("\n") == 1
