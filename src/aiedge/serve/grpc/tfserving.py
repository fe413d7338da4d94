"""TensorFlow Serving's gRPC API, as OpenVINO Model Server serves it: ``PredictionService``
(Predict, GetModelMetadata) and ``ModelService`` (GetModelStatus), over the same data plane as
every other transport. Stubs generated from TF Serving's protos (``scripts/gen_grpc_tfserving.sh``).

Tensors are ``TensorProto``: read from ``tensor_content`` (raw little-endian) or the typed
``*_val`` fields (one value fills the whole shape, as in TensorFlow), checked against the model as
declared (dtype, shape) before any data is read; outputs go back in ``tensor_content``
(``string_val`` for strings). Version 0 or none means the latest. Classify, Regress,
MultiInference and HandleReloadConfigRequest answer UNIMPLEMENTED.
"""

from __future__ import annotations

import math
import time
from typing import Any

import grpc
import numpy as np

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ModelNotReady, ServeError
from aiedge.serve.grpc.service import status_of
from aiedge.serve.grpc.tfs.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from aiedge.serve.grpc.tfs.tensorflow.core.protobuf import meta_graph_pb2
from aiedge.serve.grpc.tfs.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from aiedge.serve.limits import Limits
from aiedge.serve.registry import READY, ModelVersion
from aiedge.serve.runtimes.base import NUMPY_TO_V2, V2_TO_NUMPY, Array, ModelSignature, TensorSpec
from aiedge.serve.tensors import as_dtype, check_declared
from aiedge.serve.tfnames import (
    DEFAULT_SIGNATURE,
    DT_NUMBER_TO_V2,
    PREDICT_METHOD,
    STATES,
    V2_TO_DT,
    version_of,
)

# V2 datatype -> the typed TensorProto field its values may come in
_VALUES = {
    "FP32": "float_val",
    "FP64": "double_val",
    "INT32": "int_val",
    "INT16": "int_val",
    "INT8": "int_val",
    "UINT8": "int_val",
    "UINT16": "int_val",
    "INT64": "int64_val",
    "BOOL": "bool_val",
    "UINT32": "uint32_val",
    "UINT64": "uint64_val",
    "FP16": "half_val",
    "BYTES": "string_val",
}
# tensorflow.error.Code numbers for GetModelStatus
_OK, _UNAVAILABLE = 0, 14


def _version(spec: Any) -> str | None:
    if spec.HasField("version") and spec.version.value:
        return str(spec.version.value)
    return spec.version_label or None


def _model(dp: DataPlane, spec: Any) -> ModelVersion:
    return dp.loaded(spec.name, version_of(dp.registry, spec.name, _version(spec)))


def _spec_version(spec: Any, mv: ModelVersion) -> None:
    spec.name = mv.name
    if mv.version.isdigit():
        spec.version.value = int(mv.version)
    else:
        spec.version_label = mv.version


def decode(inputs: Any, sig: ModelSignature, limits: Limits) -> dict[str, Array]:
    """``PredictRequest.inputs`` as arrays, checked against ``sig`` as declared first."""
    if not inputs:
        raise BadRequest("inputs: expected at least one tensor")
    declared: list[tuple[str, str, str, list[int]]] = []
    for name, t in inputs.items():
        field = f"inputs[{name}]"
        datatype = DT_NUMBER_TO_V2.get(t.dtype)
        if datatype is None:
            raise BadRequest(f"{field}.dtype: DataType {t.dtype} is not one aiedge serves")
        if t.tensor_shape.unknown_rank:
            raise BadRequest(f"{field}.tensor_shape: a rank is needed")
        shape = [d.size for d in t.tensor_shape.dim]
        if any(d < 0 for d in shape):
            raise BadRequest(f"{field}.tensor_shape: dimensions must be non-negative")
        declared.append((field, name, datatype, shape))
    check_declared(sig, declared, limits)
    return {name: _values(inputs[name], datatype, shape, field) for field, name, datatype, shape in declared}


def _values(t: Any, datatype: str, shape: list[int], field: str) -> Array:
    n = math.prod(shape)
    if t.tensor_content and datatype != "BYTES":
        dtype = V2_TO_NUMPY[datatype].newbyteorder("<")
        if len(t.tensor_content) != n * dtype.itemsize:
            raise BadRequest(f"{field}.tensor_content: {len(t.tensor_content)} bytes do not fill {shape}")
        return np.frombuffer(t.tensor_content, dtype=dtype).astype(V2_TO_NUMPY[datatype]).reshape(shape)
    values = getattr(t, _VALUES[datatype])
    # counted before they become Python objects: protobuf holds them compactly until then
    if len(values) not in (n, 1) or (len(values) == 1 and n == 0):
        raise BadRequest(f"{field}.{_VALUES[datatype]}: {len(values)} values do not fill {shape}")
    if datatype == "FP16":  # half_val holds the float16 bit patterns
        arr: Array = np.asarray(list(values), dtype=np.uint16).view(np.float16)
    else:
        arr = as_dtype(list(values), datatype, f"{field}.{_VALUES[datatype]}")
    if arr.size == 1 and n != 1:  # TensorFlow: one value fills the shape
        arr = np.full(shape, arr.reshape(-1)[0], dtype=arr.dtype)
    return arr.reshape(shape)


def encode(arr: Array) -> Any:
    datatype = NUMPY_TO_V2.get(arr.dtype, "BYTES")
    t = tensor_pb2.TensorProto()
    t.dtype = V2_TO_DT[datatype][1]  # type: ignore[assignment]  # the enum's number
    t.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in arr.shape)
    if datatype == "BYTES":
        t.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in arr.ravel().tolist())
    else:
        t.tensor_content = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
    return t


def _tensor_infos(specs: tuple[TensorSpec, ...], into: Any) -> None:
    for s in specs:
        info = into[s.name]
        info.name, info.dtype = s.name, V2_TO_DT.get(s.datatype, ("", 0))[1]
        info.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in s.shape)


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, dp: DataPlane) -> None:
        self.dp = dp

    async def Predict(self, request: Any, context: Any) -> Any:
        t0 = time.perf_counter()
        version = _version(request.model_spec)
        try:
            mv = _model(self.dp, request.model_spec)
            version = mv.version
            assert mv.model is not None
            inputs = decode(request.inputs, mv.model.signature, self.dp.limits)
            outputs = await self.dp.infer(mv, inputs, checked=True)
            names = list(request.output_filter) or list(outputs)
            unknown = [n for n in names if n not in outputs]
            if unknown:
                raise BadRequest(
                    f"output_filter: unknown output {unknown[0]!r}; the model gives {', '.join(outputs)}"
                )
            response = predict_pb2.PredictResponse()
            _spec_version(response.model_spec, mv)
            for n in names:
                response.outputs[n].CopyFrom(encode(outputs[n]))
        except ServeError as e:
            code, http = status_of(e)
            self.dp.observe("tfserving_grpc", request.model_spec.name, version, http, t0)
            await context.abort(code, str(e))
        self.dp.observe("tfserving_grpc", request.model_spec.name, version, 200, t0)
        return response

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:
        try:
            if list(request.metadata_field) != ["signature_def"]:
                raise BadRequest('metadata_field: only "signature_def" is served')
            mv = self.dp.registry.get(
                request.model_spec.name,
                version_of(self.dp.registry, request.model_spec.name, _version(request.model_spec)),
            )
            if mv.model is None:
                raise ModelNotReady(f"model {mv.name!r} version {mv.version} is {mv.state}")
        except ServeError as e:
            await context.abort(status_of(e)[0], str(e))
        assert mv.model is not None
        sig = mv.model.signature
        signatures = meta_graph_pb2.SignatureDef(method_name=PREDICT_METHOD)
        _tensor_infos(sig.inputs, signatures.inputs)
        _tensor_infos(sig.outputs, signatures.outputs)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _spec_version(response.model_spec, mv)
        sdmap = get_model_metadata_pb2.SignatureDefMap()
        sdmap.signature_def[DEFAULT_SIGNATURE].CopyFrom(signatures)
        response.metadata["signature_def"].Pack(sdmap)
        return response


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, dp: DataPlane) -> None:
        self.dp = dp

    async def GetModelStatus(self, request: Any, context: Any) -> Any:
        spec = request.model_spec
        try:
            version = version_of(self.dp.registry, spec.name, _version(spec))
            chosen = self.dp.registry.get(spec.name, version)
        except ServeError as e:
            await context.abort(status_of(e)[0], str(e))
        versions = [chosen] if version else list(self.dp.registry.models[spec.name].values())
        response = get_model_status_pb2.GetModelStatusResponse()
        for mv in versions:
            status = response.model_version_status.add(
                version=int(mv.version) if mv.version.isdigit() else 0, state=STATES.get(mv.state, ("", 0))[1]
            )
            status.status.error_code = _OK if mv.state == READY else _UNAVAILABLE  # type: ignore[assignment]
            status.status.error_message = mv.reason
        return response


def add_to(server: grpc.aio.Server, dp: DataPlane) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(dp), server)  # type: ignore[no-untyped-call]
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(dp), server)  # type: ignore[no-untyped-call]
