"""TensorFlow Serving's REST API v1: ``:predict`` (row ``instances`` and columnar ``inputs``),
model status and metadata, under ``/v1/models/NAME[/versions/V]``."""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ModelNotFound, ModelNotReady, ServeError
from aiedge.serve.registry import READY
from aiedge.serve.rest.asgi import Request, Response, Route, json_response
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import parse_json, to_json_value
from aiedge.serve.runtimes.base import Array, ModelSignature, TensorSpec
from aiedge.serve.tensors import as_dtype
from aiedge.serve.tfnames import DEFAULT_SIGNATURE, PREDICT_METHOD, STATES, V2_TO_DT, version_of

_PATH = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?(?P<tail>:predict|/metadata)?$")


def decode(body: Any, specs: tuple[TensorSpec, ...]) -> tuple[dict[str, Array], bool]:
    """Inputs by name, and whether the request used the row format (``instances``)."""
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise BadRequest(
            "body: expected an object with exactly one of 'instances' (rows) or 'inputs' (columns)"
        )
    row = "instances" in body
    value = body["instances" if row else "inputs"]
    key = "instances" if row else "inputs"
    by_name = {s.name: s for s in specs}
    if row:
        if not isinstance(value, list) or not value:
            raise BadRequest("instances: expected a non-empty list")
        if all(isinstance(v, dict) for v in value):
            named = {n: [inst.get(n) for inst in value] for n in by_name}
            for n, vals in named.items():
                if any(v is None for v in vals):
                    raise BadRequest(f"instances: every instance needs input {n!r}")
            return {n: as_dtype(v, by_name[n].datatype, f"instances[{n}]") for n, v in named.items()}, True
        return _single(value, specs, key), True
    if isinstance(value, dict):
        unknown = [n for n in value if n not in by_name]
        if unknown:
            raise BadRequest(f"inputs: unknown input {unknown[0]!r}; the model takes {', '.join(by_name)}")
        return {n: as_dtype(v, by_name[n].datatype, f"inputs[{n}]") for n, v in value.items()}, False
    return _single(value, specs, key), False


def _single(value: Any, specs: tuple[TensorSpec, ...], key: str) -> dict[str, Array]:
    if len(specs) != 1:
        names = ", ".join(s.name for s in specs)
        raise BadRequest(f"{key}: the model takes several inputs ({names}); name them")
    spec = specs[0]
    return {spec.name: as_dtype(value, spec.datatype, key)}


def encode(outputs: dict[str, Array], row: bool) -> dict[str, Any]:
    if not row:
        if len(outputs) == 1:
            return {"outputs": to_json_value(next(iter(outputs.values())))}
        return {"outputs": {n: to_json_value(a) for n, a in outputs.items()}}
    if len(outputs) == 1:
        return {"predictions": to_json_value(next(iter(outputs.values())))}
    batch = min(a.shape[0] if a.ndim else 1 for a in outputs.values())
    return {
        "predictions": [
            {n: to_json_value(np.asarray(a[i])) for n, a in outputs.items()} for i in range(batch)
        ]
    }


def signature_def_map(sig: ModelSignature) -> dict[str, Any]:
    """The model's signature as TF Serving writes a ``SignatureDefMap`` in REST metadata."""

    def infos(specs: tuple[TensorSpec, ...]) -> dict[str, Any]:
        return {
            s.name: {
                "dtype": V2_TO_DT.get(s.datatype, ("DT_INVALID", 0))[0],
                "tensorShape": {"dim": [{"size": str(d), "name": ""} for d in s.shape]},
                "name": s.name,
            }
            for s in specs
        }

    return {
        "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
        "signatureDef": {
            DEFAULT_SIGNATURE: {
                "inputs": infos(sig.inputs),
                "outputs": infos(sig.outputs),
                "methodName": PREDICT_METHOD,
            }
        },
    }


def routes(dp: DataPlane, bodies: Bodies) -> list[Route]:
    json_limit = bodies.limit("max_json_bytes")

    def parse(request: Request) -> tuple[str, str | None, str]:
        m = _PATH.match(request.path_params["rest"])
        if not m:
            raise ModelNotFound(
                f"{request.path}: not a TF-Serving path (/v1/models/NAME[/versions/V][:predict])"
            )
        return m["name"], m["version"], m["tail"] or ""

    async def get(request: Request) -> Response:
        try:
            name, version, tail = parse(request)
            if tail == ":predict":
                return json_response({"error": "use POST for :predict"}, 405)
            version = version_of(dp.registry, name, version)
            mv = dp.registry.get(name, version)
            if tail == "/metadata":
                if mv.model is None:
                    raise ModelNotReady(f"model {name!r} version {mv.version} is {mv.state}")
                return json_response(
                    {
                        "modelSpec": {"name": name, "signatureName": "", "version": mv.version},
                        "metadata": {"signature_def": signature_def_map(mv.model.signature)},
                    }
                )
            versions = [mv] if version else dp.registry.models[name].values()
            return json_response(
                {
                    "model_version_status": [
                        {
                            "version": v.version,
                            "state": STATES.get(v.state, ("UNKNOWN", 0))[0],
                            "status": {
                                "error_code": "OK" if v.state == READY else "UNAVAILABLE",
                                "error_message": v.reason,
                            },
                        }
                        for v in versions
                    ]
                }
            )
        except ServeError as e:
            return error_response(e)

    async def post(request: Request) -> Response:
        t0 = time.perf_counter()
        name, version = request.path_params["rest"].split("/")[0].split(":")[0], None
        try:
            name, version, tail = parse(request)
            if tail != ":predict":
                raise ModelNotFound(f"{request.path}: only :predict takes POST here")
            mv = dp.loaded(name, version_of(dp.registry, name, version))
            version = mv.version
            assert mv.model is not None
            held = await bodies.read(request, *json_limit)
            try:
                inputs, row = decode(parse_json(request.body), mv.model.signature.inputs)
                response = json_response(encode(await dp.infer(mv, inputs), row))
            finally:
                bodies.release(held)
        except ServeError as e:
            response = error_response(e)
        dp.observe("tfserving", name, version, response.status_code, t0)
        return response

    return [Route("/v1/models/{rest:path}", get), Route("/v1/models/{rest:path}", post, ("POST",))]
