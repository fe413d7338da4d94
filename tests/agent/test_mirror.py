"""``--registry-mirror SRC=DST``: an agent pulls the images of registry SRC (as the App names it)
from a site-local registry DST; the App's registry is never reached. A malformed pair is one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state
from tests.support import aiedge_cmd

SITE = "site-m"


@pytest.mark.timeout(240)
def test_images_come_from_the_site_local_mirror(
    tmp_path: Path, registry: str, images: dict[str, str], fake_hub: Callable[..., FakeHub]
) -> None:
    hub = fake_hub(SITE)
    # the App names a registry that does not resolve; the site's mirror has the image
    upstream = "registry.example.invalid:5000"
    v1 = app("tiny-app", images["v1"].replace(registry, upstream, 1), "tiny", smoke_test("tiny", 1.0))
    hub.set_desired(state(SITE, 1, v1))
    agent = agent_proc(
        hub.url,
        SITE,
        tmp_path / "data",
        tmp_path / "agent.log",
        "--registry-mirror",
        f"{upstream}={registry}",
    )
    try:
        report = hub.wait_report(healthy_on(v1.digest), timeout=120, what="served from the mirror")
        assert report.apps[0].digest == v1.digest
        assert predict(v1.port) == pytest.approx(answer(1.0))
    finally:
        assert agent.stop() == 0, agent.log()


def test_a_bad_mirror_is_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        aiedge_cmd(
            "agent", "--hub", "http://127.0.0.1:1", "--data", str(tmp_path), "--registry-mirror", "nope"
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1 and "want SRC=DST" in out.stderr and "Traceback" not in out.stderr, out.stderr
