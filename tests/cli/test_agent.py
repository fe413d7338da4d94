"""``aiedge agent``'s own checks, on the real CLI: every config mistake is one line and exit 1
before anything starts (no data folder made, no hub asked): a hub URL without a scheme, no
``--hub`` at all (no localhost default), ``--data`` that is a file, plain ``http://`` to a hub
beyond loopback without ``--insecure``, an unreadable or empty ``--token-file``. The token from
``--token-file`` or ``AIEDGE_AGENT_TOKEN`` reaches the hub and never the process's argv
(``/proc/PID/cmdline``)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from aiedge.agent.settings import AgentSettings
from tests.agent.fakehub import FakeHub
from tests.agent.running import agent_proc, state
from tests.support import aiedge_cmd

SITE = "site-cli"
TOKEN = "site-credential-7f3a9c"


def _agent(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("agent", *args), capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
        env=env,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--hub", "127.0.0.1:9"],
            "error: --hub: 127.0.0.1:9: not an http:// or https:// URL; write https://127.0.0.1:9 "
            "(or http://127.0.0.1:9 on loopback)",
        ),
        (["--hub", "ftp://core:21"], "error: --hub: ftp://core:21: not an http:// or https:// URL"),
        (["--hub", "http://127.0.0.1:99999"], "error: --hub: http://127.0.0.1:99999: Port out of range"),
        ([], "error: --hub is required: the hub's URL, e.g. https://core:8443 (or set AIEDGE_AGENT_HUB)"),
        (
            ["--hub", "http://10.1.2.3:8000"],
            "error: hub http://10.1.2.3:8000: plain http:// beyond loopback sends the site's credential "
            "and digests in clear; use https:// (with --ca for a private CA) or pass --insecure",
        ),
        (["--hub", "http://127.0.0.1:9", "--data", "afile"], "error: --data: afile is a file, not a folder"),
        (
            ["--hub", "http://127.0.0.1:9", "--token-file", "missing"],
            "error: token file missing: cannot read it",
        ),
        (["--hub", "http://127.0.0.1:9", "--token-file", "empty"], "error: token file empty is empty"),
    ],
)
def test_config_mistakes_are_one_line_before_anything_starts(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "empty").write_text("\n")
    data = ["--data", "data"] if "--data" not in args else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIEDGE_AGENT_")}
    r = _agent(tmp_path, *args, *data, env=env)
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith(message) and r.stderr.count("\n") == 1, r.stderr
    assert not (tmp_path / "data").exists()


def test_insecure_allows_plain_http_beyond_loopback_and_https_needs_nothing() -> None:
    assert AgentSettings(hub="http://10.1.2.3:8000", insecure=True).hub == "http://10.1.2.3:8000"
    assert AgentSettings(hub="https://core.example:8443/").hub == "https://core.example:8443"
    assert AgentSettings(hub="http://[::1]:8000").hub == "http://[::1]:8000"


@pytest.fixture
def hub(fake_hub: Callable[..., FakeHub]) -> FakeHub:
    h = fake_hub(SITE, token=TOKEN)
    h.set_desired(state(SITE, 1))
    return h


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["file", "env"])
def test_the_token_reaches_the_hub_and_never_argv(tmp_path: Path, hub: FakeHub, how: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    extra = ["--token-file", str(token_file)] if how == "file" else []
    env = {"AIEDGE_AGENT_TOKEN": TOKEN} if how == "env" else None
    agent = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent.log", *extra, env=env)
    try:
        hub.wait_report(lambda r: r.site == SITE, timeout=60, what="a report with the token")
        cmdline = Path(f"/proc/{agent.pid}/cmdline").read_bytes()
        assert b"--hub" in cmdline and TOKEN.encode() not in cmdline
    finally:
        assert agent.stop() == 0, agent.log()
    assert TOKEN not in agent.log()
