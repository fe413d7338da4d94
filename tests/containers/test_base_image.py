"""``aiedge base build``: two builds of the same inputs give the same digest, and the image runs
aiedge as user 1000 under podman.

The reproducibility test builds the slim variant (no ONNX Runtime, OpenVINO, LightGBM, sklearn)
a second time and compares it with the run's shared slim build; the full image differs only in
the wheels installed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aiedge.containers.base_image import build_base
from aiedge.containers.engine import Podman
from aiedge.containers.layout import read_layout
from tests.containers.images import CREATED, base_spec, shared_wheel


@pytest.mark.timeout(1800)
def test_two_builds_agree(slim_base_layout: Path, shared_images: Path, tmp_path: Path) -> None:
    first, _ = read_layout(slim_base_layout)
    again = build_base(base_spec(tmp_path / "again", shared_wheel(shared_images), runtimes=False))
    assert again.image.digest == first.digest
    print(f"slim base: {again.size / 1e6:.0f} MB, rebuilt in {again.seconds:.0f}s")


@pytest.mark.timeout(1800)
def test_runs_aiedge_as_user_1000(slim_base_layout: Path, podman: Podman) -> None:
    image, _ = read_layout(slim_base_layout)
    image_id = asyncio.run(podman.arun("pull", "--quiet", image.transport_ref)).strip()
    out = podman.run("run", "--rm", "--network", "none", image_id, "--version")
    assert out.strip().startswith("aiedge ")
    who = podman.run("run", "--rm", "--network", "none", "--entrypoint", "id", image_id, "-u")
    assert who.strip() == "1000"


@pytest.mark.timeout(1800)
def test_no_build_date_in_the_image(slim_base_layout: Path, podman: Podman) -> None:
    """Debian stamps the day of the install into /etc/shadow: two builds a day apart differed
    (seen in CI across midnight). Every stamped day is SOURCE_DATE_EPOCH's."""
    image, _ = read_layout(slim_base_layout)
    image_id = asyncio.run(podman.arun("pull", "--quiet", image.transport_ref)).strip()
    shadow = podman.run(
        "run", "--rm", "--network", "none", "--user", "0", "--entrypoint", "cat", image_id, "/etc/shadow"
    )
    days = {row.split(":")[2] for row in shadow.splitlines() if row.count(":") == 8}
    assert days and days <= {"0", str(CREATED // 86400)}, shadow
