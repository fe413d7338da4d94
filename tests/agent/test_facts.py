"""Site facts: what this machine has (architecture, CPUs, memory, free disk of the data folder,
OpenVINO's devices and ONNX Runtime's providers asked in a child interpreter); accelerators count
only what a runtime can use (an ONNX Runtime GPU provider needs its device files); a runtime probe
that fails or hangs gives no devices instead of stopping the agent; a real agent process reports
its facts to the hub."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from aiedge.agent.facts import RuntimeDevices, accelerators, probe_runtimes, site_facts
from aiedge.oci.platform import host_platform
from tests.agent.fakehub import FakeHub
from tests.agent.running import agent_proc


def test_this_machines_facts(tmp_path: Path) -> None:
    devices = asyncio.run(probe_runtimes())
    assert "CPU" in devices.openvino and "CPUExecutionProvider" in devices.onnxruntime
    facts = site_facts(tmp_path / "data", devices)
    assert facts.arch == host_platform().architecture and facts.os == "linux"
    assert facts.cpus == len(os.sched_getaffinity(0))
    assert facts.memory_bytes > 1 << 28 and facts.disk_free_bytes > 0
    assert facts.openvino_devices == devices.openvino and facts.accelerators == []  # no GPU here


def test_accelerators_are_what_a_runtime_can_use(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    (dev / "dri").mkdir(parents=True)
    (dev / "dri" / "renderD128").touch()
    cuda = RuntimeDevices(["CPU"], ["CUDAExecutionProvider", "CPUExecutionProvider"])
    # a GPU build of ONNX Runtime on a machine without the GPU: no gpu
    assert site_facts(tmp_path / "d", cuda, dev=dev).accelerators == []
    (dev / "nvidia0").touch()
    facts = site_facts(tmp_path / "d", cuda, dev=dev)
    assert facts.accelerators == ["gpu"] and facts.nvidia == ["nvidia0"] and facts.dri == ["renderD128"]
    assert accelerators(RuntimeDevices(["CPU", "GPU.0", "NPU"], []), [], kfd=False) == ["gpu", "npu"]
    assert accelerators(RuntimeDevices([], ["ROCMExecutionProvider"]), [], kfd=True) == ["gpu"]


def test_a_failing_or_hanging_probe_gives_no_devices(tmp_path: Path) -> None:
    assert asyncio.run(probe_runtimes(python="/bin/false")) == RuntimeDevices()
    sleeper = tmp_path / "sleeper"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    assert asyncio.run(probe_runtimes(python=str(sleeper), limit=1.0)) == RuntimeDevices()


def test_the_agent_reports_its_facts(tmp_path: Path) -> None:
    hub = FakeHub("site-facts").start()
    agent = agent_proc(hub.url, "site-facts", tmp_path / "data", tmp_path / "agent.log")
    try:
        report = hub.wait_report(lambda r: r.facts is not None, timeout=120, what="facts")
        assert report.facts is not None
        assert report.facts.arch == host_platform().architecture
        assert "CPU" in report.facts.openvino_devices
        assert report.facts.aiedge_version == report.agent_version
    finally:
        code = agent.stop()
        hub.stop()
    assert code == 0, agent.log()
    assert "site facts: linux/" in agent.log()
