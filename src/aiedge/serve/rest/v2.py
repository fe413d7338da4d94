"""KServe V2 / Open Inference Protocol over REST (JSON tensors)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.serve.dataplane import DataPlane, as_dtype
from aiedge.serve.errors import BadRequest, ServeError
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import json_response, read_json, to_json_value
from aiedge.serve.runtimes.base import NUMPY_TO_V2, Array


def decode_inputs(body: Any) -> tuple[dict[str, Array], list[str] | None, str | None]:
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object with 'inputs'")
    raw = body.get("inputs")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("inputs: expected a non-empty list of tensors")
    inputs: dict[str, Array] = {}
    for i, t in enumerate(raw):
        field = f"inputs[{i}]"
        if not isinstance(t, dict):
            raise BadRequest(f"{field}: expected an object with name, shape, datatype, data")
        name, shape, datatype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
        if not isinstance(name, str):
            raise BadRequest(f"{field}.name: expected a string")
        field = f"inputs[{name}]"
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise BadRequest(f"{field}.shape: expected a list of non-negative integers")
        if not isinstance(datatype, str):
            raise BadRequest(f"{field}.datatype: expected a string such as FP32")
        if data is None:
            raise BadRequest(f"{field}.data: missing")
        arr = as_dtype(data, datatype, field)
        if arr.size != int(np.prod(shape)):
            raise BadRequest(f"{field}.data: {arr.size} values do not fill shape {shape}")
        inputs[name] = arr.reshape(shape)
    wanted = body.get("outputs")
    names: list[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list) or not all(
            isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted
        ):
            raise BadRequest("outputs: expected a list of objects with a name")
        names = [o["name"] for o in wanted]
    rid = body.get("id")
    return inputs, names, rid if isinstance(rid, str) else None


def encode_outputs(outputs: dict[str, Array], names: list[str] | None) -> list[dict[str, Any]]:
    chosen = names if names is not None else list(outputs)
    result = []
    for n in chosen:
        if n not in outputs:
            raise BadRequest(f"outputs: unknown output {n!r}; the model gives {', '.join(outputs)}")
        arr = outputs[n]
        result.append(
            {
                "name": n,
                "datatype": NUMPY_TO_V2.get(arr.dtype, "BYTES"),
                "shape": list(arr.shape),
                "data": to_json_value(arr.reshape(-1)),
            }
        )
    return result


def routes(dp: DataPlane) -> list[Route]:
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
            inputs, names, rid = decode_inputs(await read_json(request))
            outputs = await dp.infer(mv, inputs)
            body: dict[str, Any] = {
                "model_name": mv.name,
                "model_version": mv.version,
                "outputs": encode_outputs(outputs, names),
            }
            if rid is not None:
                body["id"] = rid
            response = json_response(body)
        except ServeError as e:
            response = error_response(e)
        dp.observe("v2", p["name"], version, response.status_code, t0)
        return response

    m = "/v2/models/{name}"
    mv = "/v2/models/{name}/versions/{version}"
    return [
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route(m, model_metadata, methods=["GET"]),
        Route(mv, model_metadata, methods=["GET"]),
        Route(f"{m}/ready", model_ready, methods=["GET"]),
        Route(f"{mv}/ready", model_ready, methods=["GET"]),
        Route(f"{m}/infer", infer, methods=["POST"]),
        Route(f"{mv}/infer", infer, methods=["POST"]),
    ]
