"""Fixtures shared by the test folders: seed data, a real OCI registry, the example GitOps repo in
a real Git repository, the demo model, real hub processes, fake hubs for agents."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiedge.demo.model import write_demo_model
from tests.agent.fakehub import FakeHub
from tests.gitops.helpers import make_repo
from tests.hub.helpers import Hub, StartHub, launch_hub
from tests.support import Proc, shared_dir, start_registry


@pytest.fixture(scope="session")
def shared() -> Path:
    """`<repo>/../shared`: the seed models and GitOps files (fails clearly when missing)."""
    return shared_dir()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real docker-registry on a free loopback port, as ``127.0.0.1:PORT``; one per test worker."""
    proc, addr = start_registry(tmp_path_factory.mktemp("registry"))
    yield addr
    proc.stop()


@pytest.fixture
def start_hub(tmp_path: Path) -> Iterator[StartHub]:
    """Start `aiedge hub --gitops REPO --data DIR --port P --poll-interval 0.2 [ARGS]`; returns once
    it logged that it is ready."""
    procs: list[Proc] = []

    def start(gitops: Path, *args: str, **kwargs: Any) -> Hub:
        hub = launch_hub(tmp_path, gitops, *args, **kwargs)
        procs.append(hub.proc)
        return hub

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The example GitOps repo in a real Git repository, one commit on main."""
    return make_repo(tmp_path / "gitops")


@pytest.fixture
def onnx_model(tmp_path: Path) -> Path:
    """A folder with the demo's ``model.onnx`` and a small ``README.md``."""
    model = write_demo_model(tmp_path / "model-src")
    (model / "README.md").write_text("housing demo\n")
    return model


@pytest.fixture
def fake_hub() -> Iterator[Callable[..., FakeHub]]:
    """Starts a :class:`FakeHub` for a site (``fake_hub(SITE, token=...)``); stopped after the test."""
    started: list[FakeHub] = []

    def start(site: str, token: str | None = None) -> FakeHub:
        started.append(FakeHub(site, token=token).start())
        return started[-1]

    yield start
    for h in started:
        h.stop()
