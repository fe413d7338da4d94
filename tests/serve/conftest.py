"""Fixtures for the serve tests: real `aiedge serve` processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve.helpers import GRPC_ADDRESSES, Server
from tests.support import Proc, aiedge_cmd, free_port, wait_http


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Server]:
    """Start `aiedge serve PATH --name NAME [ARGS]`; returns its base URL once the server is live."""
    procs: list[Proc] = []

    def start(
        path: Path, name: str, *args: str, ready: bool = True, env: dict[str, str] | None = None
    ) -> str:
        port, grpc_port = free_port(), free_port()
        proc = Proc(
            aiedge_cmd(
                "serve",
                str(path),
                "--name",
                name,
                "--http-port",
                str(port),
                "--grpc-port",
                str(grpc_port),
                *args,
            ),
            tmp_path / f"serve-{name}-{port}.log",
            env=env,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        GRPC_ADDRESSES[url] = f"127.0.0.1:{grpc_port}"
        wait_http(f"{url}/v2/health/live", timeout=60)
        if ready:
            wait_http(f"{url}/v2/models/{name}/ready", timeout=60)
        return url

    yield start
    for p in procs:
        p.stop()
