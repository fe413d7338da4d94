"""What this site has, for its status reports (:class:`~aiedge.contracts.SiteFacts`): architecture,
OS, CPUs, memory, free disk in the data folder, the accelerators a runtime here can use, aiedge's
version.

The runtimes are asked in a child interpreter, once per agent start (OpenVINO's devices, ONNX
Runtime's execution providers): importing them costs the agent's own process seconds and hundreds
of MB it would keep; a runtime that is missing or fails to answer in time counts as having
nothing. Free disk is read at every report.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aiedge import __version__
from aiedge.contracts import SiteFacts
from aiedge.oci.extract import free_bytes
from aiedge.oci.platform import host_platform

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 120.0
MAX_ITEMS = 32
_WORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/+-]{0,63}$")
# ONNX Runtime providers that drive a GPU, and the device files that show one is there (a GPU
# build of ONNX Runtime lists its provider on machines without the GPU too)
_GPU_PROVIDERS = {
    "CUDAExecutionProvider": "nvidia",
    "TensorrtExecutionProvider": "nvidia",
    "ROCMExecutionProvider": "kfd",
    "MIGraphXExecutionProvider": "kfd",
}
_PROBE = """
import json, sys
out = {"openvino": [], "onnxruntime": []}
try:
    import openvino
    out["openvino"] = list(openvino.Core().available_devices)
except Exception as e:
    out["openvino_error"] = f"{type(e).__name__}: {e}"
try:
    import onnxruntime
    out["onnxruntime"] = list(onnxruntime.get_available_providers())
except Exception as e:
    out["onnxruntime_error"] = f"{type(e).__name__}: {e}"
sys.stdout.write(json.dumps(out))
"""


@dataclass(frozen=True)
class RuntimeDevices:
    openvino: list[str] = field(default_factory=list)
    onnxruntime: list[str] = field(default_factory=list)


def _words(items: object) -> list[str]:
    if not isinstance(items, list):
        return []
    return [str(i) for i in items if isinstance(i, str) and _WORD.match(i)][:MAX_ITEMS]


async def probe_runtimes(python: str = sys.executable, limit: float = PROBE_TIMEOUT_S) -> RuntimeDevices:
    """OpenVINO's available devices and ONNX Runtime's providers, asked in a child interpreter."""
    try:
        proc = await asyncio.create_subprocess_exec(
            python,
            "-c",
            _PROBE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as e:
        log.warning("site facts: cannot ask the runtimes for their devices: %s", e)
        return RuntimeDevices()
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.warning("site facts: the runtimes did not list their devices in %.0f s", limit)
        return RuntimeDevices()
    try:
        doc = json.loads(out)
    except ValueError:
        log.warning("site facts: the runtime probe exited %s without an answer", proc.returncode)
        return RuntimeDevices()
    for name in ("openvino_error", "onnxruntime_error"):
        if name in doc:
            log.info("site facts: %s: %s", name.split("_")[0], str(doc[name])[:200])
    return RuntimeDevices(_words(doc.get("openvino")), _words(doc.get("onnxruntime")))


def _device_files(folder: Path, pattern: str) -> list[str]:
    try:
        names = sorted(p.name for p in folder.iterdir() if re.fullmatch(pattern, p.name))
    except OSError:
        return []
    return [n for n in names if _WORD.match(n)][:MAX_ITEMS]


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def accelerators(devices: RuntimeDevices, nvidia: list[str], kfd: bool) -> list[str]:
    """``gpu`` and ``npu`` as a runtime here can use them (not merely as hardware that exists)."""
    found: set[str] = set()
    for device in devices.openvino:
        kind = device.split(".", 1)[0].upper()
        if kind in ("GPU", "NPU"):
            found.add(kind.lower())
    present = {"nvidia": bool(nvidia), "kfd": kfd}
    if any(present.get(_GPU_PROVIDERS.get(p, ""), False) for p in devices.onnxruntime):
        found.add("gpu")
    return sorted(found)


def site_facts(data: Path, devices: RuntimeDevices, dev: Path = Path("/dev")) -> SiteFacts:
    """The facts of this machine now; ``devices`` from :func:`probe_runtimes`."""
    platform = host_platform()
    nvidia = _device_files(dev, r"nvidia[0-9]+")
    data.mkdir(parents=True, exist_ok=True)
    return SiteFacts(
        arch=platform.architecture,
        os=platform.os,
        cpus=len(os.sched_getaffinity(0)) or os.cpu_count() or 1,
        memory_bytes=_memory_bytes(),
        disk_free_bytes=free_bytes(data),
        accelerators=accelerators(devices, nvidia, (dev / "kfd").exists()),
        openvino_devices=devices.openvino,
        onnx_providers=devices.onnxruntime,
        dri=_device_files(dev / "dri", r"(card|renderD)[0-9]+"),
        nvidia=nvidia,
        aiedge_version=__version__,
    )
