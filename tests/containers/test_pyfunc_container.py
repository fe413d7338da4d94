"""An MLflow pyfunc model with a pinned extra requirement (``six==1.16.0``) built with
``aiedge build --base IMAGE --allow-pickle --test-container`` on the slim base image: the runnable
image, run under podman with no network of its own to reach an index, answers ``/invocations``
from the model's own environment in its layer."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiedge.containers.engine import Podman
from aiedge.containers.push import push_layout
from aiedge.oci.reference import ImageReference
from tests.containers.images import private_storage
from tests.pyfunc_models import COLUMNS, EXTRA_ANSWER, save_pyfunc_model
from tests.support import aiedge_cmd


@pytest.fixture(scope="module")
def storage_env(podman: Podman) -> Iterator[dict[str, str]]:
    with private_storage(podman.env) as env:
        yield {**podman.env, **env}


@pytest.mark.timeout(1800)
def test_pyfunc_image_answers_invocations(
    slim_base_layout: Path, registry: str, storage_env: dict[str, str], tmp_path: Path
) -> None:
    ref = ImageReference.parse(f"{registry}/aiedge/base-slim:pyfunc")
    base = f"{registry}/aiedge/base-slim@{asyncio.run(push_layout(slim_base_layout, ref))}"
    model = save_pyfunc_model(tmp_path / "bikes")
    started = time.monotonic()
    test_data = tmp_path / "test-data.json"
    request = {"dataframe_split": {"columns": list(COLUMNS), "data": [[1.0, 2.0], [3.0, 4.0]]}}
    test_data.write_text(
        json.dumps({"request": request, "response": {"predictions": [EXTRA_ANSWER, EXTRA_ANSWER]}})
    )
    done = subprocess.run(
        aiedge_cmd(
            "build", str(model), "--name", "bikes", "--image", f"{registry}/models/bikes:1",
            "--base", base, "--allow-pickle", "--test-data", str(test_data), "--test-container",
            "--json",
        ),
        env=storage_env,
        capture_output=True,
        text=True,
        timeout=1700,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    print(f"build --base --allow-pickle --test-container: {time.monotonic() - started:.1f}s")
    print([line for line in done.stderr.splitlines() if "container test" in line or "installed" in line])
    assert "container test passed" in done.stderr
    assert "installed 5 pinned requirement(s)" in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["image"].startswith(f"{registry}/models/bikes@sha256:")
