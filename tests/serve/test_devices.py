"""Serving on a device: ``--device`` (AIEDGE_SERVE_DEVICE) maps to OpenVINO's device (AUTO, GPU,
NPU) and ONNX Runtime's execution providers; a device this machine lacks falls back to the CPU
with the reason in the model's metadata (DeviceUnavailable, a warning), unless it is required;
the answers are the seed's on every path. This machine has no GPU: the GPU path itself is not run
here (the `auto` path and the fallback are)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes import devices
from tests.serve.helpers import Server
from tests.support import wait_until

HOUSING = "seed-models/tensorflow-housing/tf2model"
ROW = {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}


def _housing(url: str) -> str:
    r = httpx.post(f"{url}/v1/models/housing:predict", json=ROW, timeout=30)
    assert r.status_code == 200, r.text
    return r.text


def test_auto_serves_on_what_openvino_picks(serve: Server, shared: Path) -> None:
    url = serve(shared / HOUSING, "housing", "--device", "auto")
    meta = httpx.get(f"{url}/v2/models/housing").json()
    assert meta["device"] == "AUTO:CPU" and "device_fallback" not in meta
    assert _housing(url) == '{"predictions":[-28.7639923]}'


def test_a_missing_gpu_falls_back_to_the_cpu_with_a_reason(serve: Server, shared: Path) -> None:
    url = serve(shared / HOUSING, "housing", "--device", "gpu")
    meta = httpx.get(f"{url}/v2/models/housing").json()
    assert meta["device"] == "CPU"
    assert meta["device_fallback"].startswith("DeviceUnavailable: device gpu asked for, but OpenVINO has CPU")
    assert _housing(url) == '{"predictions":[-28.7639923]}'
    # ONNX Runtime: the CPU provider, the same reason
    url = serve(shared / "seed-models/onnx-mnist", "mnist", "--device", "npu")
    meta = httpx.get(f"{url}/v2/models/mnist").json()
    assert meta["device"] == "CPU" and "ONNX Runtime has" in meta["device_fallback"]


def test_a_required_device_that_is_missing_fails_the_load(serve: Server, shared: Path) -> None:
    url = serve(shared / HOUSING, "housing", "--device", "npu", "--device-required", ready=False)

    def failed() -> dict[str, str] | None:
        meta: dict[str, str] = httpx.get(f"{url}/v2/models/housing", timeout=10).json()
        return meta if meta.get("state") not in (None, "loading") else None

    wait_until(lambda: failed() is not None, timeout=120, what="the load to end")
    meta = failed()
    assert meta is not None and meta["state"] == "failed", meta
    assert "DeviceUnavailable: device npu asked for, but OpenVINO has CPU" in meta["reason"], meta
    assert "the App requires it (deviceRequired)" in meta["reason"]
    assert httpx.get(f"{url}/v2/models/housing/ready", timeout=10).status_code != 200


def test_the_choice_per_runtime() -> None:
    assert devices.openvino_choice("gpu", ["CPU", "GPU.0"]) == devices.Choice("GPU")
    assert devices.openvino_choice("auto", ["CPU"]) == devices.Choice("AUTO")
    assert devices.openvino_choice("npu", ["CPU", "NPU"]) == devices.Choice("NPU")
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert devices.onnx_choice("gpu", cuda).providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert devices.onnx_choice("auto", ["CPUExecutionProvider"]) == devices.Choice(
        "CPU", ("CPUExecutionProvider",)
    )
    # a GPU build without its GPU: the session runs on the CPU, and says so
    used = devices.onnx_used(devices.onnx_choice("gpu", cuda), ["CPUExecutionProvider"])
    assert used.device == "CPU" and "could not start CUDAExecutionProvider" in used.fallback
    with pytest.raises(devices.DeviceUnavailable):
        devices.onnx_used(devices.onnx_choice("gpu", cuda), ["CPUExecutionProvider"], required=True)
    with pytest.raises(ModelLoadError, match="choose one of cpu, gpu, npu, auto"):
        devices.openvino_choice("tpu", ["CPU"])
