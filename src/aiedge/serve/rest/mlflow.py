"""MLflow's scoring protocol: ``POST /invocations`` (JSON ``dataframe_split``, ``dataframe_records``,
``instances``, ``inputs``; or a CSV body with a header row), ``GET /ping`` and ``GET /health``.

Like ``mlflow models serve``, one server answers for one model; with several, ``?model=NAME``
picks one. When the model's signature names its columns, dataframe columns are reordered to it.
"""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import numpy as np

from aiedge.serve.dataplane import DataPlane
from aiedge.serve.errors import BadRequest, ModelNotFound, ServeError
from aiedge.serve.registry import ModelVersion
from aiedge.serve.rest import tfserving
from aiedge.serve.rest.asgi import Request, Response, Route, json_response
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import parse_json, to_json_value
from aiedge.serve.runtimes.base import Array, ModelSignature
from aiedge.serve.tensors import as_dtype


def _table(columns: list[str], rows: Any, sig: ModelSignature, field: str) -> dict[str, Array]:
    """``rows`` (lists, or a 2-D array from CSV) in the signature's column order."""
    if len(sig.inputs) != 1:
        raise BadRequest(f"{field}: dataframes need a model with one input")
    if sig.columns and columns:
        missing = [c for c in sig.columns if c not in columns]
        if missing:
            raise BadRequest(
                f"{field}.columns: missing {', '.join(missing)} (the model takes {', '.join(sig.columns)})"
            )
        order = [columns.index(c) for c in sig.columns]
        rows = rows[:, order] if isinstance(rows, np.ndarray) else [[row[i] for i in order] for row in rows]
    spec = sig.inputs[0]
    return {spec.name: as_dtype(rows, spec.datatype, f"{field}.data")}


def decode(body: Any, sig: ModelSignature) -> dict[str, Array]:
    if not isinstance(body, dict):
        raise BadRequest(
            "body: expected a JSON object with dataframe_split, dataframe_records, instances or inputs"
        )
    if "dataframe_split" in body:
        split = body["dataframe_split"]
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            raise BadRequest("dataframe_split.data: expected a list of rows")
        columns = split.get("columns") or []
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise BadRequest("dataframe_split.columns: expected a list of column names")
        rows = split["data"]
        if columns and any(not isinstance(r, list) or len(r) != len(columns) for r in rows):
            raise BadRequest(f"dataframe_split.data: every row needs {len(columns)} values")
        return _table(columns, rows, sig, "dataframe_split")
    if "dataframe_records" in body:
        records = body["dataframe_records"]
        if not isinstance(records, list) or not records or not all(isinstance(r, dict) for r in records):
            raise BadRequest("dataframe_records: expected a non-empty list of objects")
        columns = list(sig.columns) or list(records[0])
        try:
            rows = [[r[c] for c in columns] for r in records]
        except KeyError as e:
            raise BadRequest(f"dataframe_records: a record lacks column {e.args[0]!r}") from e
        return _table(columns, rows, sig, "dataframe_records")
    if "instances" in body or "inputs" in body:
        return tfserving.decode({k: v for k, v in body.items() if k in ("instances", "inputs")}, sig.inputs)[
            0
        ]
    raise BadRequest("body: expected one of dataframe_split, dataframe_records, instances, inputs")


def decode_csv(text: str, sig: ModelSignature) -> dict[str, Array]:
    head, _, rest = text.partition("\n")
    header = next(csv.reader([head]), [])
    if not header or not rest.strip():
        raise BadRequest("body: CSV needs a header row and at least one data row")
    try:  # numpy's parser: 8 bytes a value, where Python lists of floats would take ~60
        values = np.loadtxt(io.StringIO(rest), delimiter=",", dtype=np.float64, ndmin=2, quotechar='"')
    except ValueError as e:
        reason = str(e).splitlines()[0][:200]
        raise BadRequest(f"body: CSV values must be numbers, one per column: {reason}") from e
    if values.shape[1] != len(header):
        raise BadRequest(f"body: CSV rows have {values.shape[1]} values for {len(header)} columns")
    return _table(header, values, sig, "csv")


def routes(dp: DataPlane, bodies: Bodies) -> list[Route]:
    json_limit = bodies.limit("max_json_bytes")

    def pick(request: Request) -> ModelVersion:
        name = request.query("model")
        if name is None:
            if len(dp.registry.models) != 1:
                raise ModelNotFound(
                    f"/invocations: several models are served; add ?model= ({', '.join(dp.registry.models)})"
                )
            name = next(iter(dp.registry.models))
        return dp.loaded(name)

    async def invocations(request: Request) -> Response:
        t0 = time.perf_counter()
        name = request.query("model") or next(iter(dp.registry.models), "")
        version = None
        try:
            mv = pick(request)
            version = mv.version
            assert mv.model is not None
            ctype = (request.header(b"content-type") or "application/json").split(";")[0].strip()
            if ctype not in ("text/csv", "application/json", ""):
                return json_response(
                    {"error": f"Content-Type {ctype[:80]}: send application/json or text/csv"}, 415
                )
            held = await bodies.read(request, *json_limit)
            try:
                if ctype == "text/csv":
                    inputs = decode_csv(request.body.decode("utf-8", "replace"), mv.model.signature)
                else:
                    inputs = decode(parse_json(request.body), mv.model.signature)
                outputs = await dp.infer(mv, inputs)
            finally:
                bodies.release(held)
            if len(outputs) == 1:
                response = json_response({"predictions": to_json_value(next(iter(outputs.values())))})
            else:
                response = json_response({"predictions": {n: to_json_value(a) for n, a in outputs.items()}})
        except ServeError as e:
            response = error_response(e)
        dp.observe("mlflow", name, version, response.status_code, t0)
        return response

    async def ping(_: Request) -> Response:
        return Response(b"\n", 200 if dp.ready() else 503)

    return [Route("/invocations", invocations, ("POST",)), Route("/ping", ping), Route("/health", ping)]
