"""Which device a runtime serves on: an App's ``device`` (``cpu``, ``gpu``, ``npu``, ``auto``) in
each runtime's own words, and the fallback to the CPU when the device is not there.

- OpenVINO: ``cpu`` -> ``CPU``, ``gpu`` -> ``GPU``, ``npu`` -> ``NPU``, ``auto`` -> ``AUTO``
  (OpenVINO's own choice among what it has, the CPU included).
- ONNX Runtime: the execution providers for the kind, in order of preference, followed by the
  CPU's; ``auto`` takes every accelerated provider present.

A device asked for but absent is served on the CPU with a reason (:class:`Choice.fallback`, a
warning the agent reports), unless the App says ``deviceRequired``: then the model does not load
(:class:`DeviceUnavailable`). Pure: the runtimes pass in what they found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiedge.serve.errors import ModelLoadError

DEVICES = ("cpu", "gpu", "npu", "auto")
_OPENVINO = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU", "auto": "AUTO"}
CPU_PROVIDER = "CPUExecutionProvider"
# accelerated ONNX Runtime providers by kind, most preferred first
ONNX_PROVIDERS = {
    "gpu": (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "MIGraphXExecutionProvider",
        "ROCMExecutionProvider",
        "DmlExecutionProvider",
    ),
    "npu": ("QNNExecutionProvider", "VitisAIExecutionProvider"),
}


class DeviceUnavailable(ModelLoadError):
    """The App requires a device this machine's runtime does not have."""


@dataclass(frozen=True)
class Choice:
    """What a runtime is given (an OpenVINO device name, or ONNX Runtime providers in order) and,
    when it is the CPU instead of what was asked, why."""

    device: str
    providers: tuple[str, ...] = ()
    fallback: str = ""


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ModelLoadError(f"device {device!r}: choose one of {', '.join(DEVICES)}")
    return device


def _refused(runtime: str, device: str, why: str, required: bool) -> str:
    text = f"DeviceUnavailable: device {device} asked for, but {runtime} {why}"
    if required:
        raise DeviceUnavailable(f"{text}, and the App requires it (deviceRequired)")
    return f"{text}; serving on the CPU"


def openvino_choice(device: str, available: Sequence[str], *, required: bool = False) -> Choice:
    """OpenVINO's device for ``device`` among ``available`` (``Core().available_devices``)."""
    check_device(device)
    name = _OPENVINO[device]
    if device in ("cpu", "auto") or any(d.split(".", 1)[0] == name for d in available):
        return Choice(name)
    has = ", ".join(available) or "no device"
    return Choice("CPU", fallback=_refused("OpenVINO", device, f"has {has}", required))


def openvino_compile_failed(device: str, error: str, *, required: bool = False) -> Choice:
    """The device was listed but would not compile the model: the CPU, with OpenVINO's reason."""
    return Choice(
        "CPU", fallback=_refused("OpenVINO", device, f"could not compile on it ({error})", required)
    )


def onnx_choice(device: str, available: Sequence[str], *, required: bool = False) -> Choice:
    """ONNX Runtime's providers for ``device`` among ``available`` (``get_available_providers()``)."""
    check_device(device)
    if device == "cpu":
        return Choice("CPU", (CPU_PROVIDER,))
    kinds = ("gpu", "npu") if device == "auto" else (device,)
    wanted = tuple(p for k in kinds for p in ONNX_PROVIDERS[k] if p in available)
    if wanted:
        return Choice(wanted[0], (*wanted, CPU_PROVIDER))
    if device == "auto":
        return Choice("CPU", (CPU_PROVIDER,))  # auto on a machine without accelerators: as asked
    has = ", ".join(available) or "no providers"
    return Choice("CPU", (CPU_PROVIDER,), _refused("ONNX Runtime", device, f"has {has}", required))


def onnx_used(choice: Choice, used: Sequence[str], *, required: bool = False) -> Choice:
    """The choice as the session really took it: ONNX Runtime drops a provider whose device is
    missing (a GPU build on a machine without the GPU) and runs on the CPU."""
    first = used[0] if used else CPU_PROVIDER
    if first == choice.device or choice.device == "CPU":
        return choice
    why = f"could not start {choice.device} (the session uses {', '.join(used) or 'none'})"
    kind = next((k for k, ps in ONNX_PROVIDERS.items() if choice.device in ps), "auto")
    return Choice("CPU", tuple(used), _refused("ONNX Runtime", kind, why, required))
