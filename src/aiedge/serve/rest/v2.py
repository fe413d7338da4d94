"""KServe V2 / Open Inference Protocol over REST (JSON tensors)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import orjson

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ServeError
from aiedge.serve.limits import Limits
from aiedge.serve.rest.asgi import Request, Response, Route, json_response
from aiedge.serve.rest.binary import HEADER, read_tensor, split_body, tensor_bytes
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import DUMPS, to_json_value
from aiedge.serve.runtimes.base import NUMPY_TO_V2, Array, ModelSignature
from aiedge.serve.tensors import as_dtype, check_declared


@dataclass
class V2Request:
    inputs: dict[str, Array]
    outputs: list[str] | None  # requested output names, None for all
    binary_outputs: set[str]  # outputs to send as binary data
    binary_default: bool  # request-level parameters.binary_data_output
    id: str | None


_NO_BINARY = memoryview(b"")


def decode_request(body: bytes, header_length: str | None, sig: ModelSignature, limits: Limits) -> V2Request:
    """The request's tensors, checked against ``sig`` as declared before any data is decoded."""
    if header_length is None:
        head, binary = body, _NO_BINARY
    else:
        head, binary = split_body(body, header_length, limits.max_json_bytes)
    if not head:
        raise BadRequest("body: empty; expected a JSON object with 'inputs'")
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"body: malformed JSON: {e}") from e
    if type(doc) is not dict:
        raise BadRequest("body: expected a JSON object with 'inputs'")
    raw = doc.get("inputs")
    if type(raw) is not list or not raw:
        raise BadRequest("inputs: expected a non-empty list of tensors")
    declared: list[tuple[str, str, str, list[int]]] = []
    for i, t in enumerate(raw):
        if type(t) is not dict:
            raise BadRequest(f"inputs[{i}]: expected an object with name, shape, datatype, data")
        name, shape, datatype = t.get("name"), t.get("shape"), t.get("datatype")
        if type(name) is not str:
            raise BadRequest(f"inputs[{i}].name: expected a string")
        field = f"inputs[{name}]"
        if type(shape) is not list or not _dims(shape):
            raise BadRequest(f"{field}.shape: expected a list of non-negative integers")
        if type(datatype) is not str:
            raise BadRequest(f"{field}.datatype: expected a string such as FP32")
        declared.append((field, name, datatype, shape))
    check_declared(sig, declared, limits)
    inputs: dict[str, Array] = {}
    offset = 0
    for t, (field, name, datatype, shape) in zip(raw, declared, strict=True):
        params = t.get("parameters")
        size = None if params is None else _params(t, field).get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise BadRequest(
                    f"{field}.parameters.binary_data_size: {size!r} does not fit the binary data"
                )
            inputs[name] = read_tensor(binary[offset : offset + size], datatype, shape, field)
            offset += size
            continue
        data = t.get("data")
        if data is None:
            raise BadRequest(f"{field}.data: missing")
        arr = as_dtype(data, datatype, field)
        if arr.size != math.prod(shape):
            raise BadRequest(f"{field}.data: {arr.size} values do not fill shape {shape}")
        inputs[name] = arr.reshape(shape)
    wanted = doc.get("outputs")
    names: list[str] | None = None
    binary_outputs: set[str] = set()
    if wanted is not None:
        if not isinstance(wanted, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
        ):
            raise BadRequest("outputs: expected a list of objects with a name")
        names = [o["name"] for o in wanted]
        binary_outputs = {o["name"] for o in wanted if _params(o, "outputs").get("binary_data") is True}
    rid = doc.get("id")
    binary_default = "parameters" in doc and _params(doc, "body").get("binary_data_output") is True
    return V2Request(inputs, names, binary_outputs, binary_default, rid if isinstance(rid, str) else None)


def _dims(shape: list[Any]) -> bool:
    for d in shape:  # noqa: SIM110 - a loop: all() over a generator costs more per request
        if type(d) is not int or d < 0:
            return False
    return True


def _params(obj: dict[str, Any], field: str) -> dict[str, Any]:
    params = obj.get("parameters") or {}
    if not isinstance(params, dict):
        raise BadRequest(f"{field}.parameters: expected an object")
    return params


def encode_response(head: dict[str, Any], outputs: dict[str, Array], req: V2Request) -> Response:
    chosen = req.outputs if req.outputs is not None else list(outputs)
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for n in chosen:
        if n not in outputs:
            raise BadRequest(f"outputs: unknown output {n!r}; the model gives {', '.join(outputs)}")
        arr = outputs[n]
        t: dict[str, Any] = {
            "name": n,
            "datatype": NUMPY_TO_V2.get(arr.dtype, "BYTES"),
            "shape": list(arr.shape),
        }
        if n in req.binary_outputs or req.binary_default:
            blob = tensor_bytes(arr)
            t["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            t["data"] = to_json_value(arr.reshape(-1))
        tensors.append(t)
    head["outputs"] = tensors
    body = orjson.dumps(head, option=DUMPS)
    if not blobs:
        return Response(body)
    return Response(
        body + b"".join(blobs),
        media_type=b"application/octet-stream",
        headers=[(b"inference-header-content-length", b"%d" % len(body))],
    )


def routes(dp: DataPlane, bodies: Bodies) -> list[Route]:
    json_limit, binary_limit = bodies.limit("max_json_bytes"), bodies.limit("max_body_bytes")

    async def live(_: Request) -> Response:
        return json_response({"live": dp.live()})

    async def ready(_: Request) -> Response:
        ok = dp.ready()
        return json_response({"ready": ok}, 200 if ok else 503)

    async def server_metadata(_: Request) -> Response:
        return json_response(dp.server_metadata())

    async def model_metadata(request: Request) -> Response:
        p = request.path_params
        try:
            return json_response(dp.model_metadata(p["name"], p.get("version")))
        except ServeError as e:
            return error_response(e)

    async def model_ready(request: Request) -> Response:
        p = request.path_params
        try:
            mv = dp.model_ready(p["name"], p.get("version"))
        except ServeError as e:
            return error_response(e)
        body: dict[str, Any] = {"name": mv.name, "version": mv.version, "ready": mv.state == "ready"}
        if mv.reason:
            body["reason"] = mv.reason
        return json_response(body, 200 if mv.state == "ready" else 503)

    async def infer(request: Request) -> Response:
        t0 = time.perf_counter()
        p = request.path_params
        version = p.get("version")
        try:
            mv = dp.loaded(p["name"], version)
            version = mv.version
            assert mv.model is not None
            header_length = request.header(HEADER)
            # binary tensor data is read zero-copy; only JSON needs the tighter limit
            held = await bodies.read(request, *(json_limit if header_length is None else binary_limit))
            try:
                req = decode_request(request.body, header_length, mv.model.signature, dp.limits)
                outputs = await dp.infer(mv, req.inputs, checked=True)
            finally:
                bodies.release(held)
            head: dict[str, Any] = {"model_name": mv.name, "model_version": mv.version}
            if req.id is not None:
                head["id"] = req.id
            response = encode_response(head, outputs, req)
        except ServeError as e:
            response = error_response(e)
        dp.observe("v2", p["name"], version, response.status_code, t0)
        return response

    m = "/v2/models/{name}"
    mv = "/v2/models/{name}/versions/{version}"
    return [
        Route("/v2/health/live", live),
        Route("/v2/health/ready", ready),
        Route("/v2", server_metadata),
        Route(m, model_metadata),
        Route(mv, model_metadata),
        Route(f"{m}/ready", model_ready),
        Route(f"{mv}/ready", model_ready),
        Route(f"{m}/infer", infer, ("POST",)),
        Route(f"{mv}/infer", infer, ("POST",)),
    ]
