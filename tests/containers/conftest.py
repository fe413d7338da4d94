"""Fixtures of the container tests: podman with a private storage, the base images (built once
per pytest run for every worker, or the full ones taken from ``AIEDGE_TEST_BASE_LAYOUT`` and
``AIEDGE_TEST_ARM64_BASE_LAYOUT``), the housing model stacked on the full one.

They are part of the suite: without root, debootstrap, podman or runc they fail and say what to
install (``./dev test`` installs them).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from aiedge.oci.platform import ARM64
from tests.containers.helpers import HOUSING
from tests.containers.images import require_tools, run_dir, shared_base, stack_model


@pytest.fixture(scope="session")
def shared_images(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    return run_dir(tmp_path_factory, pytestconfig)


@pytest.fixture(scope="session")
def base_layout(shared_images: Path) -> Path:
    """The full base image (with the ML runtimes), as an OCI layout folder."""
    return shared_base(shared_images, runtimes=True)


@pytest.fixture(scope="session")
def slim_base_layout(shared_images: Path) -> Path:
    """The slim base image (aiedge without the ML runtimes), as an OCI layout folder."""
    return shared_base(shared_images, runtimes=False)


@pytest.fixture(scope="session")
def arm64_base_layout(shared_images: Path) -> Path:
    """The full base image for linux/arm64 (built under qemu-user), as an OCI layout folder."""
    return shared_base(shared_images, runtimes=True, platform=ARM64)


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Podman]:
    """Podman with a private storage, removed at the end. The storage sits in a short folder of its
    own: podman refuses a run root longer than 50 characters, and xdist's temp folders are longer."""
    require_tools("podman", "runc")
    storage = Path(tempfile.mkdtemp(prefix="aiedge-podman-", dir="/tmp"))
    engine = Podman.setup(tmp_path_factory.mktemp("podman"), storage=storage)
    yield engine
    # containers first (every test removes its own; this is the safety net), then the images
    for args in (("rm", "--all", "--force"), ("rmi", "--all", "--force")):
        subprocess.run(engine.argv(*args), env=engine.env, capture_output=True, check=False)
    shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="session")
def housing_image(shared: Path, base_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> LayoutImage:
    model = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    if not model.is_dir():
        pytest.fail(f"{model} is missing", pytrace=False)
    return stack_model(base_layout, model, HOUSING, tmp_path_factory.mktemp("housing") / "layout")
