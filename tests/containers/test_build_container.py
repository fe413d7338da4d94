"""``aiedge build --base IMAGE --test-container`` end to end through the CLI: the seed's housing
model stacked on the base image (pushed to a real registry) runs under podman and answers the
seed's request with -28.7639923; without --base or without podman the build stops with one line
saying why. (A wrong answer from the container is ``check_container``'s diff: test_trial.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiedge.containers.engine import Podman
from aiedge.containers.push import push_layout
from aiedge.oci.reference import ImageReference
from tests.containers.images import build_housing, private_storage


@pytest.fixture(scope="module")
def storage_env(podman: Podman) -> Iterator[dict[str, str]]:
    """The environment of `aiedge build`: podman's image storage in a private folder, emptied at
    the end."""
    with private_storage(podman.env) as env:
        yield {**podman.env, **env}


@pytest.fixture(scope="module")
def pushed_base(base_layout: Path, registry: str) -> str:
    ref = ImageReference.parse(f"{registry}/aiedge/base:test")
    return f"{registry}/aiedge/base@{asyncio.run(push_layout(base_layout, ref))}"


@pytest.mark.timeout(1800)
def test_housing_container_answers_the_seed(
    shared: Path, registry: str, pushed_base: str, storage_env: dict[str, str]
) -> None:
    started = time.monotonic()
    done = build_housing(
        shared, registry, "--base", pushed_base, "--test-container", "--json", env=storage_env
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["image"].startswith(f"{registry}/models/housing@sha256:")
    assert "container test passed" in done.stderr
    print(f"build --base --test-container: {time.monotonic() - started:.1f}s")
    print([line for line in done.stderr.splitlines() if "container test" in line])
    # the container is gone: only the image stays in podman's storage
    ps = subprocess.run(
        ["podman", "--runtime", "runc", "ps", "--all", "--quiet"],
        env=storage_env,
        capture_output=True,
        text=True,
    )
    assert ps.stdout.strip() == ""


def test_needs_base_and_podman(shared: Path, registry: str, tmp_path: Path) -> None:
    done = build_housing(shared, registry, "--test-container", env=dict(os.environ))
    assert done.returncode == 1
    assert _last_line(done.stderr) == (
        "error: --test-container needs --base: only a runnable image can run under podman"
    )
    no_podman = {**os.environ, "PATH": str(tmp_path)}  # a PATH where podman is not found
    done = build_housing(
        shared, registry, "--base", f"{registry}/aiedge/base:x", "--test-container", env=no_podman
    )
    assert done.returncode == 1
    assert _last_line(done.stderr) == "error: podman is not installed: apt-get install podman"


def _last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1]
