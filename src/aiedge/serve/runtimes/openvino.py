"""OpenVINO: IR (``.xml`` + ``.bin``), TF SavedModel directories and ONNX, on the device the App
names (``runtimes/devices.py``: the CPU unless asked otherwise, and the CPU when the device is
missing or cannot compile the model, unless it is required).

Inference precision is f32 unless asked otherwise: CPUs with AMX/AVX512-BF16 default to bf16,
which moves the seed's housing answer in the third digit (-28.889 instead of -28.7639923).

A SavedModel's signature is read from the model itself (``serve/savedmodel.py``), where OpenVINO
leaves dimensions open. With ``shape_auto`` (OVMS's ``--shape auto``), a model whose inputs have
fixed shapes takes inputs of other shapes (same rank): the model is reshaped and compiled for
them (the last few shapes are kept compiled), and a shape the model cannot take is the request's
error, naming the shape and OpenVINO's reason.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
import openvino as ov

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes import devices
from aiedge.serve.runtimes.base import (
    NUMPY_TO_V2,
    Array,
    LoadedModel,
    LoadOptions,
    ModelSignature,
    Runtime,
    TensorSpec,
)
from aiedge.serve.savedmodel import signature_shapes

PRECISIONS = ("f32", "bf16", "f16")
COMPILED_SHAPES = 4  # reshaped models kept compiled with shape_auto


def _spec(port: ov.Output, index: int, kind: str) -> TensorSpec:
    names = port.get_names()
    name = port.get_any_name() if names else f"{kind}-{index}"
    try:
        dtype = np.dtype(port.get_element_type().to_dtype())
        datatype = NUMPY_TO_V2.get(dtype, "BYTES")
    except (RuntimeError, TypeError):
        datatype = "BYTES"
    pshape = port.get_partial_shape()
    dims = tuple(d.get_length() if d.is_static else -1 for d in pshape) if pshape.rank.is_static else (-1,)
    return TensorSpec(name, datatype, dims)


class OpenVinoModel(LoadedModel):
    def __init__(
        self,
        path: Path,
        precision: str = "f32",
        shape_auto: bool = False,
        device: str = "cpu",
        device_required: bool = False,
    ) -> None:
        if precision not in PRECISIONS:
            raise ModelLoadError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        self._core, self._config = ov.Core(), {"INFERENCE_PRECISION_HINT": precision}
        self._choice = devices.openvino_choice(device, self._core.available_devices, required=device_required)
        try:
            self._model = self._core.read_model(str(path))
        except RuntimeError as e:
            raise ModelLoadError(f"{path}: OpenVINO cannot load it: {_first_line(e)}") from e
        compiled = self._compile(path, device_required)
        self._inputs = list(compiled.inputs)
        self._outputs = list(compiled.outputs)
        inputs = tuple(_spec(p, i, "input") for i, p in enumerate(self._inputs))
        outputs = tuple(_spec(p, i, "output") for i, p in enumerate(self._outputs))
        if path.is_dir() and formats.detect_format(path) == formats.TF_SAVEDMODEL:
            known = signature_shapes(path)
            inputs, outputs = _narrowed(inputs, known), _narrowed(outputs, known)
        fixed = tuple(s.shape for s in inputs)
        # reshaping is for models whose every input shape is fixed; their signature then says -1
        self._reshape = shape_auto and bool(inputs) and all(-1 not in shape for shape in fixed)
        if self._reshape:
            inputs = tuple(TensorSpec(s.name, s.datatype, (-1,) * len(s.shape)) for s in inputs)
            outputs = tuple(TensorSpec(s.name, s.datatype, (-1,) * len(s.shape)) for s in outputs)
        labels = {"precision": precision, "device": self._device_used(compiled)}
        if self._choice.fallback:
            labels["device_fallback"] = self._choice.fallback
        self._signature = ModelSignature(inputs, outputs, platform="openvino", labels=labels)
        self._compiled: OrderedDict[tuple[tuple[int, ...], ...], ov.CompiledModel] = OrderedDict()
        self._compiled[fixed] = compiled
        self._lock = threading.Lock()  # reshaping changes the one ov.Model
        self._local = threading.local()  # an InferRequest is not thread-safe: one per thread

    def _compile(self, path: Path, required: bool) -> ov.CompiledModel:
        """Compiled on the chosen device; a device that fails to compile it gives way to the CPU."""
        if self._choice.device != "CPU":
            try:
                return self._core.compile_model(self._model, self._choice.device, self._config)
            except RuntimeError as e:
                kind = self._choice.device.lower()
                self._choice = devices.openvino_compile_failed(kind, _first_line(e)[:200], required=required)
        try:
            return self._core.compile_model(self._model, "CPU", self._config)
        except RuntimeError as e:
            raise ModelLoadError(f"{path}: OpenVINO cannot load it: {_first_line(e)}") from e

    def _device_used(self, compiled: ov.CompiledModel) -> str:
        """AUTO's pick (its EXECUTION_DEVICES), or the device compiled for."""
        if self._choice.device == "AUTO":
            try:
                used = compiled.get_property("EXECUTION_DEVICES")
            except RuntimeError:
                used = []
            return "AUTO:" + ",".join(str(d) for d in used) if used else "AUTO"
        return self._choice.device

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        feed = [inputs[spec.name] for spec in self._signature.inputs]
        shapes = tuple(tuple(a.shape) for a in feed)
        compiled = self._compiled.get(shapes) if self._reshape else next(iter(self._compiled.values()))
        if compiled is None:
            compiled = self._compile_for(shapes)
        requests: dict[int, ov.InferRequest] = self._local.__dict__.setdefault("requests", {})
        request = requests.get(id(compiled))
        if request is None:
            request = requests[id(compiled)] = compiled.create_infer_request()
        request.infer(dict(enumerate(feed)))
        return {
            spec.name: np.array(request.get_output_tensor(i).data)
            for i, spec in enumerate(self._signature.outputs)
        }

    def _compile_for(self, shapes: tuple[tuple[int, ...], ...]) -> ov.CompiledModel:
        with self._lock:
            compiled = self._compiled.get(shapes)
            if compiled is not None:
                return compiled
            try:
                self._model.reshape({i: ov.PartialShape(list(s)) for i, s in enumerate(shapes)})
                compiled = self._core.compile_model(self._model, self._choice.device, self._config)
            except RuntimeError as e:
                first = next((ln for ln in str(e).splitlines() if ln.strip()), str(e))[:300]
                raise ShapeRefused(
                    f"the model cannot take input shapes {[list(s) for s in shapes]} (--shape auto): {first}"
                ) from e
            self._compiled[shapes] = compiled
            while len(self._compiled) > COMPILED_SHAPES:
                self._compiled.popitem(last=False)
            return compiled


def _first_line(e: BaseException) -> str:
    return next((ln for ln in str(e).splitlines() if ln.strip()), type(e).__name__)


class ShapeRefused(Exception):
    """A shape ``shape_auto`` could not reshape the model to; the data plane answers it as the
    request's error (400), with this message."""


def _narrowed(specs: tuple[TensorSpec, ...], known: dict[str, tuple[int, ...]]) -> tuple[TensorSpec, ...]:
    """``specs`` with the dimensions OpenVINO leaves open taken from the SavedModel's signature."""
    out = []
    for s in specs:
        shape = known.get(s.name)
        if shape is not None and (s.shape == (-1,) or len(shape) == len(s.shape)):
            merged = (
                shape
                if s.shape == (-1,)
                else tuple(k if d == -1 else d for d, k in zip(s.shape, shape, strict=True))
            )
            out.append(TensorSpec(s.name, s.datatype, merged))
        else:
            out.append(s)
    return tuple(out)


class OpenVinoRuntime(Runtime):
    name = "openvino"
    formats = (formats.OPENVINO_IR, formats.TF_SAVEDMODEL, formats.ONNX)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> OpenVinoModel:
        options = options or LoadOptions()
        return OpenVinoModel(
            path, options.precision, options.shape_auto, options.device, options.device_required
        )


RUNTIME = OpenVinoRuntime()
