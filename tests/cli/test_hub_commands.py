"""The operator commands against a real hub: ``status --watch`` piped writes a snapshot at once
and another when the fleet changes (it printed nothing before), on a terminal it gives the cursor
back on SIGTERM (it stayed hidden); the hub, CA and token file come from a named context
(``aiedge config set-context``/``use-context``), the environment beats the context and the
flags beat both; the config file holds the token's path, never the token."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitops.helpers import git, make_repo
from tests.hub.helpers import Hub, launch_hub, operator_token
from tests.support import aiedge_cmd


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = launch_hub(tmp_path, make_repo(tmp_path / "gitops"))
    yield h
    h.proc.stop()


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIEDGE_HUB", "AIEDGE_TOKEN", "AIEDGE_CA"))
    }
    return {**env, "AIEDGE_CONFIG": str(tmp_path / "config.yaml"), "COLUMNS": "160", **extra}


def _read_until(fd: int, want: bytes, timeout: float) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    while want not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got


def test_watch_piped_writes_a_snapshot_per_change(hub: Hub, tmp_path: Path) -> None:
    env = _env(tmp_path, AIEDGE_TOKEN=operator_token(hub.data, "read"))
    cmd = aiedge_cmd("status", "--hub", hub.url, "--watch", "--interval", "0.3", "-o", "json")
    log = tmp_path / "watch.err"
    with log.open("wb") as err, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env) as watcher:
        try:
            assert watcher.stdout is not None
            first = json.loads(_read_until(watcher.stdout.fileno(), b"\n", 60).decode())
            assert {s["name"] for s in first} == {"site-a", "site-b", "site-c"}
            site = tmp_path / "gitops" / "sites" / "site-a.yaml"
            site.write_text(site.read_text().replace("labels:", "labels:\n    rack: r7", 1))
            git(tmp_path / "gitops", "commit", "-qam", "site-a in rack r7")
            second = json.loads(_read_until(watcher.stdout.fileno(), b"\n", 60).decode())
            assert next(s for s in second if s["name"] == "site-a")["labels"]["rack"] == "r7"
        finally:
            watcher.send_signal(signal.SIGTERM)
            code = watcher.wait(30)
    assert code == 0, log.read_text()


def test_watch_on_a_terminal_gives_the_cursor_back_on_sigterm(hub: Hub, tmp_path: Path) -> None:
    env = _env(tmp_path, AIEDGE_TOKEN=operator_token(hub.data, "read"), TERM="xterm")
    primary, secondary = pty.openpty()
    cmd = aiedge_cmd("status", "--hub", hub.url, "--watch", "--interval", "0.3")
    watcher = subprocess.Popen(cmd, stdin=secondary, stdout=secondary, stderr=secondary, env=env)
    os.close(secondary)
    try:
        shown = _read_until(primary, b"site-c", 60)
        assert b"\x1b[?25l" in shown, shown  # rich hid the cursor while it redraws
        watcher.send_signal(signal.SIGTERM)
        rest = _read_until(primary, b"\x1b[?25h", 30)
        assert watcher.wait(30) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
        os.close(primary)
    assert b"\x1b[?25h" in rest, rest


def test_contexts_name_the_hub_and_token_file(hub: Hub, tmp_path: Path) -> None:
    token = operator_token(hub.data, "read")
    token_file = tmp_path / "read.token"
    token_file.write_text(token + "\n")
    env = _env(tmp_path)

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        cmd = aiedge_cmd(*args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**env, **extra})

    none = run("status")
    assert none.returncode == 1 and "which hub? pass --hub URL, set AIEDGE_HUB" in none.stderr, none.stderr
    made = run("config", "set-context", "lab", "--hub", hub.url, "--token-file", str(token_file), "--use")
    assert made.returncode == 0, made.stderr
    assert token not in (tmp_path / "config.yaml").read_text()
    assert (tmp_path / "config.yaml").stat().st_mode & 0o777 == 0o600
    shown = run("status", "-o", "json")
    assert shown.returncode == 0 and {s["name"] for s in json.loads(shown.stdout)} >= {"site-a"}, shown.stderr
    assert run("config", "current-context").stdout.strip() == "lab"
    listed = run("config", "get-contexts")
    assert listed.stdout.splitlines()[1].split()[:3] == ["*", "lab", hub.url], listed.stdout
    # the environment beats the context, a flag beats both
    elsewhere = run("status", AIEDGE_HUB="http://127.0.0.1:9")
    assert elsewhere.returncode == 1 and "cannot reach the hub at http://127.0.0.1:9" in elsewhere.stderr
    assert run("status", "--hub", hub.url, "-o", "json", AIEDGE_HUB="http://127.0.0.1:9").returncode == 0
    refused = run("status", "-o", "json", AIEDGE_TOKEN="not-a-token")
    assert refused.returncode == 1 and "refused the operator token" in refused.stderr, refused.stderr
    missing = run("status", "--context", "prod")
    assert (
        missing.returncode == 1
        and "no context 'prod'" in missing.stderr
        and "(contexts: lab)" in missing.stderr
    )
    assert run("rollout", "status", "housing").stderr.startswith("error: no rollout of app 'housing' at ")
