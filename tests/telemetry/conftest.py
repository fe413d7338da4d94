"""Fixtures for the telemetry tests: a sample buffer in tmp, a real Prometheus with its
remote-write receiver on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiedge.telemetry.wal import Wal
from tests.telemetry.promserver import Prometheus


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """A fresh Prometheus on a free loopback port, stopped (by PID) when the test ends."""
    prom = Prometheus(tmp_path / "prometheus")
    prom.start()
    yield prom
    prom.stop()


@pytest.fixture
def wal(tmp_path: Path) -> Iterator[Wal]:
    """A fresh sample buffer in the test's tmp dir, closed when the test ends."""
    buffer = Wal(tmp_path / "wal")
    yield buffer
    buffer.close()
