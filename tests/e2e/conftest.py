"""Fixtures for the end-to-end tests: the demos a test starts, stopped when it ends (helpers are in
``helpers.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import Demo


@pytest.fixture
def demo_factory(tmp_path: Path) -> Iterator[list[Demo]]:
    demos: list[Demo] = []
    yield demos
    for d in demos:
        d.stop()
