"""An app's device at a site: the agent starts its server with the App's device (and the site's
serving settings), the smoke test runs on that server, and the status says what serves it; a
device the site lacks is served on the CPU with a DeviceUnavailable warning, not a failure. (No
GPU here: the fallback and the CPU paths are what run.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aiedge.contracts import AppHealth, AppReason
from tests.agent.fakehub import FakeHub
from tests.agent.images import answer, app, smoke_test
from tests.agent.running import agent_proc, healthy_on, predict, state

SITE = "site-devices"


def test_a_missing_gpu_serves_on_the_cpu_with_a_warning(
    tmp_path: Path, fake_hub: Callable[..., FakeHub], images: dict[str, str]
) -> None:
    hub = fake_hub(SITE)
    gpu = app("tiny-gpu", images["v1"], "tiny", smoke_test("tiny", 1.0)).model_copy(
        update={"device": "gpu", "slots": 2, "env": {"TINY_MODE": "site"}}
    )
    hub.set_desired(state(SITE, 1, gpu))
    agent = agent_proc(hub.url, SITE, tmp_path / "data", tmp_path / "agent.log")
    try:
        report = hub.wait_report(healthy_on(gpu.digest), timeout=120, what="healthy on the CPU")
        status = report.apps[0]
        assert status.health is AppHealth.HEALTHY and status.reason is AppReason.READY
        assert status.device == "CPU"
        assert status.warning is not None
        assert status.warning.startswith("DeviceUnavailable: device gpu asked for, but ONNX Runtime has")
        assert predict(gpu.port) == pytest.approx(answer(1.0))

        # auto on a machine without accelerators: the CPU, as asked, no warning
        auto = gpu.model_copy(
            update={"device": "auto", "image": images["v2"], "smoke_test": smoke_test("tiny", 2.0)}
        )
        hub.set_desired(state(SITE, 2, auto))
        report = hub.wait_report(healthy_on(auto.digest), timeout=120, what="auto healthy")
        assert (report.apps[0].device, report.apps[0].warning) == ("CPU", None)
    finally:
        code = agent.stop()
    assert code == 0, agent.log()
    assert "DeviceUnavailable: device gpu asked for" in agent.log()
