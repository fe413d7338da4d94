"""Helpers of the end-to-end tests that run a real hub with auth on and enrolled agents."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import Proc, aiedge_cmd


def join_token(hub_data: Path, site: str, dest: Path) -> Path:
    """A one-time join token for ``site`` from `aiedge hub token create`, written to ``dest``."""
    out = subprocess.run(
        aiedge_cmd("hub", "token", "create", "--site", site, "--data", str(hub_data)),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    dest.write_text(out.stdout.strip())
    return dest


def enrolled_agent(hub_url: str, hub_data: Path, site: str, data: Path, log: Path, *extra: str) -> Proc:
    """`aiedge agent` for ``site`` enrolling with a fresh join token (polling every 0.5 s)."""
    token = join_token(hub_data, site, log.with_suffix(".token"))
    cmd = aiedge_cmd(
        "agent",
        "--hub",
        hub_url,
        "--site",
        site,
        "--data",
        str(data),
        "--token-file",
        str(token),
        "--poll-interval",
        "0.5",
    )
    return Proc([*cmd, *extra], log)
