"""A hub started under the usual soft limit of open files still holds its fleet's polls: shells
and systemd start a service with a soft limit of 1,024 files and a far higher hard one, and each
held long poll is an open socket. The hub raises its soft limit to the hard one when it starts."""

from __future__ import annotations

import resource
import shutil
import socket
from pathlib import Path

import httpx

from tests.hub.helpers import StartHub
from tests.support import wait_until

SOFT = 128  # the test's stand-in for 1,024: a hub that kept it could not hold 200 polls
POLLS = 200


def test_a_hub_started_under_a_low_soft_limit_of_open_files_holds_more_polls(
    repo: Path, start_hub: StartHub
) -> None:
    prlimit = shutil.which("prlimit")
    assert prlimit, "this test needs prlimit (Debian's util-linux) to start the hub under a low limit"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard == resource.RLIM_INFINITY or hard >= 2 * POLLS, f"hard limit of open files {hard}"
    limit = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    hub = start_hub(repo, "--insecure-no-auth", prefix=(prlimit, f"--nofile={SOFT}:{limit}", "--"))
    digest = httpx.get(f"{hub.url}/api/v1/sites/site-a/desired").headers["X-Aiedge-Digest"]
    port = int(hub.url.rsplit(":", 1)[1])
    held: list[socket.socket] = []
    try:
        for _ in range(POLLS):
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            s.sendall(
                f"GET /api/v1/sites/site-a/desired?after={digest}&wait=60 HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n\r\n".encode()
            )
            held.append(s)

        def held_polls() -> int:
            return int(httpx.get(f"{hub.url}/api/v1/health", timeout=10).json()["held_polls"])

        wait_until(lambda: held_polls() == POLLS, timeout=60, what=f"{POLLS} polls held")
    finally:
        for s in held:
            s.close()
    assert f"open files: soft limit raised from {SOFT}" in hub.proc.log()
