"""Fixtures for the hub tests: a Git repo from examples/gitops and real `aiedge hub` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.gitops.conftest import make_repo
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


@dataclass
class Hub:
    url: str
    data: Path
    proc: Proc


StartHub = Callable[..., Hub]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "gitops")


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[StartHub]:
    """Start `aiedge hub --gitops REPO --data DIR --port P --poll-interval 0.2 [ARGS]`; returns once
    it logged that it is ready."""
    procs: list[Proc] = []

    def start(gitops: Path, *args: str) -> Hub:
        port = free_port()
        data = tmp_path / f"hub-{port}"
        proc = Proc(
            aiedge_cmd(
                "hub",
                "--gitops",
                str(gitops),
                "--data",
                str(data),
                "--port",
                str(port),
                "--poll-interval",
                "0.2",
                *args,
            ),
            tmp_path / f"logs/hub-{port}.log",
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/api/v1/health")
        wait_until(lambda: f"hub ready at {url}" in proc.log(), timeout=10, what="the ready line")
        return Hub(url, data, proc)

    yield start
    for p in procs:
        p.stop()
