"""OpenVINO: IR (``.xml`` + ``.bin``), TF SavedModel directories and ONNX, on the CPU.

Inference precision is f32 unless asked otherwise: CPUs with AMX/AVX512-BF16 default to bf16,
which moves the seed's housing answer in the third digit (-28.889 instead of -28.7639923).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openvino as ov

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes.base import (
    NUMPY_TO_V2,
    Array,
    LoadedModel,
    LoadOptions,
    ModelSignature,
    Runtime,
    TensorSpec,
)

PRECISIONS = ("f32", "bf16", "f16")


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
    def __init__(self, path: Path, precision: str = "f32") -> None:
        if precision not in PRECISIONS:
            raise ModelLoadError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            self._compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision})
        except RuntimeError as e:
            raise ModelLoadError(f"{path}: OpenVINO cannot load it: {str(e).splitlines()[0]}") from e
        self._inputs = list(self._compiled.inputs)
        self._outputs = list(self._compiled.outputs)
        self._signature = ModelSignature(
            tuple(_spec(p, i, "input") for i, p in enumerate(self._inputs)),
            tuple(_spec(p, i, "output") for i, p in enumerate(self._outputs)),
            platform="openvino",
            labels={"precision": precision},
        )
        self._local = threading.local()  # an InferRequest is not thread-safe: one per thread

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self._compiled.create_infer_request()
        feed = {i: inputs[spec.name] for i, spec in enumerate(self._signature.inputs)}
        request.infer(feed)
        return {
            spec.name: np.array(request.get_output_tensor(i).data)
            for i, spec in enumerate(self._signature.outputs)
        }


class OpenVinoRuntime(Runtime):
    name = "openvino"
    formats = (formats.OPENVINO_IR, formats.TF_SAVEDMODEL, formats.ONNX)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> OpenVinoModel:
        return OpenVinoModel(path, (options or LoadOptions()).precision)


RUNTIME = OpenVinoRuntime()
