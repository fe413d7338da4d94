"""Fixtures of the container tests: podman with a private storage, the base image (built once
per session, or taken from ``AIEDGE_TEST_BASE_LAYOUT``), the housing model stacked on it.

Tests that need debootstrap or podman are marked ``containers``; they skip when the tools or root
are missing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from aiedge.containers.base import BaseSpec, build_base
from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from tests.containers.images import stack_model

HOUSING = "tensorflow-housing"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "containers: needs root, debootstrap and podman (builds or runs images)"
    )


def needs_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing or os.geteuid() != 0:
        pytest.skip(f"needs root and {', '.join(tools)} (missing: {', '.join(missing) or 'root'})")


@pytest.fixture(scope="session")
def base_cache() -> Path:
    """The download cache of base builds (Debian packages, wheels), kept between runs."""
    return Path.home() / ".cache" / "aiedge" / "base"


@pytest.fixture(scope="session")
def base_layout(tmp_path_factory: pytest.TempPathFactory, base_cache: Path) -> Path:
    """The full base image (with the ML runtimes), as an OCI layout folder."""
    if given := os.environ.get("AIEDGE_TEST_BASE_LAYOUT"):
        return Path(given)
    needs_tools("debootstrap")
    out = tmp_path_factory.mktemp("base") / "layout"
    build_base(BaseSpec(out=out, cache=base_cache))
    return out


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    needs_tools("podman", "runc")
    data = tmp_path_factory.mktemp("podman")
    return Podman.setup(data, storage=data / "storage")


@pytest.fixture(scope="session")
def housing_image(shared: Path, base_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> LayoutImage:
    model = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    if not model.is_dir():
        pytest.skip(f"{model} is missing")
    return stack_model(base_layout, model, HOUSING, tmp_path_factory.mktemp("housing") / "layout")
