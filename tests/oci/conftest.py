"""Fixtures for the OCI tests: files of random bytes of a chosen size."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def random_file(tmp_path: Path) -> Callable[[str, int], tuple[Path, str]]:
    """Write ``size`` random bytes to ``tmp_path/name``; returns (path, sha256 digest)."""

    def make(name: str, size: int) -> tuple[Path, str]:
        path = tmp_path / name
        data = os.urandom(size)
        path.write_bytes(data)
        return path, "sha256:" + hashlib.sha256(data).hexdigest()

    return make
