"""Fixtures shared by every test folder: seed data and a real OCI registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import shared_dir, start_registry


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
