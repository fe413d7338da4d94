"""ONNX Runtime: ``.onnx`` models on the execution providers for the App's device
(``runtimes/devices.py``: the CPU's unless asked otherwise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes import devices
from aiedge.serve.runtimes.base import (
    Array,
    LoadedModel,
    LoadOptions,
    ModelSignature,
    Runtime,
    TensorSpec,
)

_ORT_TO_V2 = {
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(float16)": "FP16",
    "tensor(bool)": "BOOL",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(string)": "BYTES",
}


def _spec(arg: ort.NodeArg) -> TensorSpec:
    dims = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or []))
    return TensorSpec(arg.name, _ORT_TO_V2.get(arg.type, "BYTES"), dims)


class OnnxModel(LoadedModel):
    def __init__(
        self, path: Path, threads: int = 1, device: str = "cpu", device_required: bool = False
    ) -> None:
        choice = devices.onnx_choice(device, ort.get_available_providers(), required=device_required)
        opts = ort.SessionOptions()
        # one request per thread scales better on small edge CPUs than one request on every core
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(path), opts, providers=list(choice.providers))
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ModelLoadError(f"{path}: onnxruntime cannot load it: {e}") from e
        choice = devices.onnx_used(choice, self._session.get_providers(), required=device_required)
        labels = {"device": choice.device}
        if choice.fallback:
            labels["device_fallback"] = choice.fallback
        self._signature = ModelSignature(
            tuple(_spec(a) for a in self._session.get_inputs()),
            tuple(_spec(a) for a in self._session.get_outputs()),
            platform="onnxruntime",
            labels=labels,
        )
        self._output_names = [o.name for o in self._signature.outputs]
        self._text_inputs = [i.name for i in self._signature.inputs if i.datatype == "BYTES"]
        # the session's own run: InferenceSession.run re-validates the input names (the data plane
        # has checked them) and handles fallbacks between providers (there is one, the CPU), for a
        # fifth of a tabular model's predict time
        inner = getattr(self._session, "_sess", None)
        self._run = inner.run if inner is not None else self._public_run

    def _public_run(self, names: list[str], feed: dict[str, Array], _: object) -> list[Array]:
        return list(self._session.run(names, feed))

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        for name in self._text_inputs:
            inputs = {**inputs, name: _as_text(inputs[name])}
        results = self._run(self._output_names, inputs, None)
        return {name: np.asarray(r) for name, r in zip(self._output_names, results, strict=True)}


def _as_text(arr: Array) -> Array:
    """ONNX Runtime reads string tensors from ``str`` objects (``bytes`` would turn into "b'..'");
    V2 BYTES elements arrive as bytes, which must be UTF-8 here."""
    if arr.dtype.kind != "O" or not arr.size:
        return arr
    out = np.empty(arr.shape, dtype=np.object_)
    flat = out.reshape(-1)
    for i, v in enumerate(arr.reshape(-1).tolist()):
        flat[i] = v.decode("utf-8") if isinstance(v, bytes) else v
    return out


class OnnxRuntime(Runtime):
    name = "onnxruntime"
    formats = (formats.ONNX,)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> OnnxModel:
        options = options or LoadOptions()
        return OnnxModel(path, options.threads, options.device, options.device_required)


RUNTIME = OnnxRuntime()
