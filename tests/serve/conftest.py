"""Fixtures for the serve tests: real `aiedge serve` processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import Proc, aiedge_cmd, free_port, wait_http

Server = Callable[..., str]
_GRPC: dict[str, str] = {}  # base URL -> its server's gRPC address


def grpc_address(url: str) -> str:
    """The gRPC address (host:port) of a server the ``serve`` fixture started at ``url``."""
    return _GRPC[url]


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
        _GRPC[url] = f"127.0.0.1:{grpc_port}"
        wait_http(f"{url}/v2/health/live", timeout=60)
        if ready:
            wait_http(f"{url}/v2/models/{name}/ready", timeout=60)
        return url

    yield start
    for p in procs:
        p.stop()
