"""``inference.GRPCInferenceService``: decode, call the data plane, encode; serve errors mapped to
gRPC status codes here and nowhere else. Outputs go back as ``raw_output_contents`` (as Triton
does), inputs are read from ``raw_input_contents`` or the typed ``contents`` fields."""

from __future__ import annotations

import math
import time
from typing import Any

import grpc

from aiedge import __version__
from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import (
    BadRequest,
    InferenceError,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    ServeError,
    TooLarge,
)
from aiedge.serve.grpc.proto import open_inference_pb2 as pb
from aiedge.serve.grpc.proto import open_inference_pb2_grpc as pb_grpc
from aiedge.serve.limits import Limits
from aiedge.serve.registry import READY
from aiedge.serve.rest.binary import read_tensor, tensor_bytes
from aiedge.serve.runtimes.base import NUMPY_TO_V2, Array, ModelSignature
from aiedge.serve.tensors import as_dtype, check_declared

# serve error -> gRPC status, and the HTTP status the request counts as in the metrics' outcome
STATUS: list[tuple[type[ServeError], grpc.StatusCode, int]] = [
    (BadRequest, grpc.StatusCode.INVALID_ARGUMENT, 400),
    (InferenceError, grpc.StatusCode.INVALID_ARGUMENT, 400),
    (ModelNotFound, grpc.StatusCode.NOT_FOUND, 404),
    (ModelNotReady, grpc.StatusCode.UNAVAILABLE, 503),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED, 503),
    (TooLarge, grpc.StatusCode.RESOURCE_EXHAUSTED, 413),
]
_CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def status_of(err: ServeError) -> tuple[grpc.StatusCode, int]:
    """(gRPC status, the HTTP status it counts as in the metrics) of a serve error."""
    return next(
        ((code, http) for kind, code, http in STATUS if isinstance(err, kind)),
        (grpc.StatusCode.INTERNAL, 500),
    )


def _code(err: ServeError) -> grpc.StatusCode:
    return status_of(err)[0]


def decode(request: pb.ModelInferRequest, sig: ModelSignature, limits: Limits) -> dict[str, Array]:
    """The request's tensors, checked against ``sig`` as declared before any data is decoded."""
    if not request.inputs:
        raise BadRequest("inputs: expected at least one tensor")
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise BadRequest(f"raw_input_contents: {len(raw)} entries for {len(request.inputs)} inputs")
    declared: list[tuple[str, str, str, list[int]]] = []
    for i, t in enumerate(request.inputs):
        field = f"inputs[{t.name or i}]"
        shape = list(t.shape)
        if any(d < 0 for d in shape):
            raise BadRequest(f"{field}.shape: dimensions must be non-negative")
        declared.append((field, t.name, t.datatype, shape))
    check_declared(sig, declared, limits)
    inputs: dict[str, Array] = {}
    for i, (t, (field, _, _, shape)) in enumerate(zip(request.inputs, declared, strict=True)):
        if raw:
            inputs[t.name] = read_tensor(raw[i], t.datatype, shape, field)
            continue
        attr = _CONTENTS.get(t.datatype)
        if attr is None:
            raise BadRequest(f"{field}.datatype: {t.datatype!r} needs raw_input_contents or is unknown")
        contents = getattr(t.contents, attr)
        # counted before they become Python objects: protobuf holds them compactly until then
        if len(contents) != math.prod(shape):
            raise BadRequest(f"{field}.contents: {len(contents)} values do not fill shape {shape}")
        values: Any = list(contents)
        inputs[t.name] = as_dtype(values, t.datatype, field).reshape(shape)
    return inputs


class InferenceService(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, dp: DataPlane) -> None:
        self.dp = dp

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=self.dp.live())

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.dp.ready())

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Any
    ) -> pb.ServerMetadataResponse:
        meta = self.dp.server_metadata()
        return pb.ServerMetadataResponse(
            name=meta["name"], version=__version__, extensions=meta["extensions"]
        )

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any) -> pb.ModelReadyResponse:
        try:
            mv = self.dp.model_ready(request.name, request.version or None)
        except ServeError as e:
            await context.abort(_code(e), str(e))
        return pb.ModelReadyResponse(ready=mv.state == READY)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Any) -> pb.ModelMetadataResponse:
        try:
            meta = self.dp.model_metadata(request.name, request.version or None)
        except ServeError as e:
            await context.abort(_code(e), str(e))
        tm = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=meta["name"],
            versions=meta["versions"],
            platform=meta["platform"],
            inputs=[tm(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["inputs"]],
            outputs=[tm(name=t["name"], datatype=t["datatype"], shape=t["shape"]) for t in meta["outputs"]],
        )

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Any) -> pb.ModelInferResponse:
        t0 = time.perf_counter()
        version = request.model_version or None
        try:
            mv = self.dp.loaded(request.model_name, version)
            version = mv.version
            assert mv.model is not None
            inputs = decode(request, mv.model.signature, self.dp.limits)
            outputs = await self.dp.infer(mv, inputs, checked=True)
            names = [o.name for o in request.outputs] or list(outputs)
            unknown = [n for n in names if n not in outputs]
            if unknown:
                raise BadRequest(
                    f"outputs: unknown output {unknown[0]!r}; the model gives {', '.join(outputs)}"
                )
            response = pb.ModelInferResponse(model_name=mv.name, model_version=mv.version, id=request.id)
            for n in names:
                arr = outputs[n]
                response.outputs.add(
                    name=n, datatype=NUMPY_TO_V2.get(arr.dtype, "BYTES"), shape=list(arr.shape)
                )
                response.raw_output_contents.append(tensor_bytes(arr))
        except ServeError as e:
            code, http = status_of(e)
            self.dp.observe("grpc", request.model_name, version, http, t0)
            await context.abort(code, str(e))
        self.dp.observe("grpc", request.model_name, version, 200, t0)
        return response


async def start(dp: DataPlane, host: str, port: int, max_concurrent: int) -> grpc.aio.Server:
    """The service on ``host:port``: messages up to the body limit (gRPC refuses bigger ones itself,
    RESOURCE_EXHAUSTED, before they reach us), at most ``max_concurrent`` calls at once."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", dp.limits.max_body_bytes),
            ("grpc.max_send_message_length", 256 * 1024 * 1024),
        ],
        maximum_concurrent_rpcs=max_concurrent,
    )
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(dp), server)  # type: ignore[no-untyped-call]
    # TF Serving's API on the same port, as OpenVINO Model Server serves both; imported here, so
    # its messages (tensorflow.*) are registered only in a process that serves gRPC
    from aiedge.serve.grpc import tfserving

    tfserving.add_to(server, dp)
    if server.add_insecure_port(f"{host}:{port}") == 0:
        raise OSError(f"cannot listen on {host}:{port} for gRPC")
    await server.start()
    return server
