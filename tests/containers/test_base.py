"""``aiedge base build``: two builds of the same inputs give the same digest, and the image runs
aiedge as user 1000 under podman.

The reproducibility test builds the slim variant (no ONNX Runtime, OpenVINO, LightGBM, sklearn)
twice, to keep it to a few minutes; the full image differs only in the wheels installed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aiedge.containers.base import BaseSpec, build_base, build_wheel, find_source
from aiedge.containers.engine import Podman
from aiedge.containers.layout import read_layout
from tests.containers.conftest import needs_tools

pytestmark = pytest.mark.containers


@pytest.mark.timeout(1800)
def test_two_builds_agree(tmp_path: Path, base_cache: Path) -> None:
    needs_tools("debootstrap")
    # one wheel for both: the source tree is the input, and it may change while the test runs
    wheel = build_wheel(find_source(), tmp_path / "wheel")
    spec = BaseSpec(
        out=tmp_path / "one", wheel=wheel, with_runtimes=False, created=1700000000, cache=base_cache
    )
    one = build_base(spec)
    two = build_base(BaseSpec(**{**spec.__dict__, "out": tmp_path / "two"}))
    assert one.image.digest == two.image.digest
    assert one.size == two.size
    print(f"slim base: {one.size / 1e6:.0f} MB, builds took {one.seconds:.0f}s and {two.seconds:.0f}s")


@pytest.mark.timeout(1800)
def test_runs_aiedge_as_user_1000(base_layout: Path, podman: Podman) -> None:
    image, _ = read_layout(base_layout)
    image_id = asyncio.run(podman.arun("pull", "--quiet", image.transport_ref)).strip()
    out = podman.run("run", "--rm", "--network", "none", image_id, "--version")
    assert out.strip().startswith("aiedge ")
    who = podman.run("run", "--rm", "--network", "none", "--entrypoint", "id", image_id, "-u")
    assert who.strip() == "1000"
