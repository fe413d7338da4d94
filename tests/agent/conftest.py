"""Fixtures of the agent tests: test images in the real registry, fake hub servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.agent.fakehub import FakeHub
from tests.agent.images import push_model_image


@pytest.fixture(scope="session")
def images(registry: str) -> dict[str, str]:
    """Three versions of the model ``tiny``: answers ``10 * scale + 0.5`` for the test row."""
    return {
        "v1": push_model_image(registry, "agent/tiny", "tiny", 1.0),
        "v2": push_model_image(registry, "agent/tiny", "tiny", 2.0),
        "v3": push_model_image(registry, "agent/tiny", "tiny", 3.0),
    }


@pytest.fixture(scope="session")
def pull_path() -> None:
    """Skip while the pieces the agent's pull path calls are still interface stubs (their owners
    are writing them; remove this fixture once ``RegistryClient`` and ``run_smoke_test`` land)."""
    import inspect

    from aiedge.oci.registry import RegistryClient
    from aiedge.smoke.runner import run_smoke_test

    for fn in (RegistryClient.get_manifest, RegistryClient.fetch_blob, run_smoke_test):
        if "raise NotImplementedError" in inspect.getsource(fn):
            pytest.skip(f"{fn.__module__}.{fn.__qualname__} is still a stub")


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
