"""The runtime interface: what every model runtime (ONNX Runtime, OpenVINO, ...) provides.

A runtime turns a model directory (one version) into a :class:`LoadedModel`: its signature
(:class:`TensorSpec` inputs and outputs, named as the model names them) and a ``predict`` that
takes and returns numpy arrays by name. Runtimes know nothing of HTTP or of wire protocols.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt

# V2 / Open Inference Protocol datatype names <-> numpy dtypes.
V2_TO_NUMPY: dict[str, np.dtype[np.generic]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
NUMPY_TO_V2: dict[np.dtype[np.generic], str] = {v: k for k, v in V2_TO_NUMPY.items()}

Array = npt.NDArray[np.generic]


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a model. ``-1`` in ``shape`` means any size (e.g. the batch)."""

    name: str
    datatype: str  # a V2 datatype name, e.g. "FP32"
    shape: tuple[int, ...]

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelSignature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    platform: str = ""  # e.g. "onnxruntime", "openvino"
    labels: dict[str, str] = field(default_factory=dict)
    # Tabular models (trees, sklearn) take ONE input of any name, shape [N, F], any numeric
    # datatype; their metadata names it "input-0". ``columns`` are the F feature names, when known.
    tabular: bool = False
    columns: tuple[str, ...] = ()

    @cached_property
    def inputs_by_name(self) -> dict[str, TensorSpec]:
        return {s.name: s for s in self.inputs}


@dataclass(frozen=True)
class LoadOptions:
    """How runtimes load models; filled from the serve settings."""

    precision: str = "f32"  # OpenVINO inference precision
    threads: int = 1  # intra-op threads per request (one request per thread scales best on small CPUs)
    convert_tabular: bool = True  # serve scikit-learn models through a checked ONNX conversion
    onnx_runtime: str = "onnxruntime"  # which runtime runs .onnx models: onnxruntime or openvino
    allow_pickle: bool = False  # load pickled models (scikit-learn joblib/pkl): that runs their code
    shape_auto: bool = False  # OpenVINO models with fixed input shapes take others (OVMS --shape auto)
    device: str = "cpu"  # cpu, gpu, npu or auto (see runtimes/devices.py)
    device_required: bool = False  # a missing device fails the load instead of falling back to the CPU


class LoadedModel(ABC):
    """One version of one model, loaded and ready to predict."""

    @property
    @abstractmethod
    def signature(self) -> ModelSignature: ...

    @abstractmethod
    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        """Run the model. ``inputs`` are keyed by input name and already match the signature's
        dtypes; the result is keyed by output name. Blocking: callers run it off the event loop."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources; the default does nothing."""


class Runtime(ABC):
    """Loads the model formats it names (``serve.formats``); one subclass per runtime module, which
    exposes an instance as ``RUNTIME``. ``serve.loader`` picks the runtime by the detected format."""

    name: str  # e.g. "onnxruntime"
    formats: tuple[str, ...] = ()  # format names from serve.formats, e.g. ("onnx",)

    @abstractmethod
    def can_load(self, path: Path) -> bool:
        """True when ``path`` (a version directory or a file) holds this runtime's format."""

    @abstractmethod
    def load(self, path: Path, options: LoadOptions | None = None) -> LoadedModel:
        """Load the model file (or SavedModel directory) ``path``; ``options`` default to
        ``LoadOptions()``. Raises ``serve.errors.ModelLoadError`` naming the path and the reason."""
