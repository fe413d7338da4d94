"""Reading test data files: the seed's ConfigMap (``data.json`` = request, ``output.json`` =
expected response) or a plain JSON ``{"request": ..., "response": ...}``.

The plain form may also carry ``path``, ``protocol``, ``rtol`` and ``atol``. Errors name the file
and the line of the offending key (or of the JSON syntax error inside an embedded document).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from aiedge.contracts import SmokeTest
from aiedge.smoke.errors import SmokeTestError

PROTOCOLS = ("v2", "tfserving", "mlflow")


def default_path(protocol: str, model: str) -> str:
    if protocol == "tfserving":
        return f"/v1/models/{model}/versions/1:predict"
    if protocol == "v2":
        return f"/v2/models/{model}/infer"
    if protocol == "mlflow":
        return "/invocations"
    raise SmokeTestError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")


def protocol_of(request: Any) -> str | None:
    """The protocol a request body is written for, or None when it does not say."""
    if not isinstance(request, dict):
        return None
    if any(k.startswith("dataframe_") for k in request):
        return "mlflow"
    inputs = request.get("inputs")
    if isinstance(inputs, list) and inputs and all(isinstance(i, dict) and "datatype" in i for i in inputs):
        return "v2"
    if "instances" in request or "inputs" in request:
        return "tfserving"
    return None


def _line(node: Any, key: str) -> int | None:
    if isinstance(node, CommentedMap) and key in node:
        return int(node.lc.key(key)[0]) + 1
    return None


def _where(path: Path, line: int | None) -> str:
    return f"{path}:{line}" if line else str(path)


def _embedded_json(path: Path, data: Any, key: str) -> Any:
    line = _line(data, key)
    text = data.get(key) if isinstance(data, dict) else None
    if not isinstance(text, str):
        raise SmokeTestError(f"{_where(path, _line(data, key))}: data.{key} is missing or not a string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SmokeTestError(
            f"{_where(path, line)}: data.{key} is not JSON: {e.msg} at its line {e.lineno}"
        ) from e


def _read(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise SmokeTestError(f"{path}: cannot read test data: {e.strerror or e}") from e
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise SmokeTestError(f"{path}:{e.lineno}: not JSON: {e.msg}") from e
    try:
        return YAML(typ="rt").load(text)
    except YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SmokeTestError(f"{_where(path, line)}: not YAML: {getattr(e, 'problem', e)}") from e


def load_test_data(path: Path, *, model: str, protocol: str | None = None) -> SmokeTest:
    """Read ``path`` into a SmokeTest. The request path is derived from the body and ``protocol``:
    ``instances``/``inputs`` (TF-Serving) -> ``/v1/models/{model}/versions/1:predict``, V2 inputs ->
    ``/v2/models/{model}/infer``, ``dataframe_*`` -> ``/invocations``. Raises SmokeTestError (file:line)."""
    doc = _read(path)
    if not isinstance(doc, dict):
        raise SmokeTestError(
            f"{path}: test data must be a ConfigMap or a JSON object with request and response"
        )
    extra: dict[str, Any] = {}
    if doc.get("kind") == "ConfigMap":
        data = doc.get("data")
        if not isinstance(data, dict):
            raise SmokeTestError(f"{_where(path, _line(doc, 'kind'))}: ConfigMap has no data mapping")
        request, response = _embedded_json(path, data, "data.json"), _embedded_json(path, data, "output.json")
    elif "request" in doc and "response" in doc:
        request, response = doc["request"], doc["response"]
        for key in ("rtol", "atol"):
            if key in doc:
                if not isinstance(doc[key], int | float) or isinstance(doc[key], bool) or doc[key] < 0:
                    raise SmokeTestError(f"{_where(path, _line(doc, key))}: {key} must be a number >= 0")
                extra[key] = float(doc[key])
        protocol = protocol or doc.get("protocol")
        if "path" in doc:
            extra["path"] = str(doc["path"])
    else:
        found = ", ".join(sorted(map(str, doc))[:6]) or "nothing"
        raise SmokeTestError(
            f"{path}: test data needs a request and an expected response "
            f"(a ConfigMap with data.json and output.json, or JSON with request and response); found {found}"
        )
    if "path" not in extra:
        proto = protocol or protocol_of(request)
        if proto is None:
            raise SmokeTestError(f"{path}: cannot tell the protocol from the request; give protocol or path")
        extra["path"] = default_path(proto, model)
    return SmokeTest(request=_plain(request), response=_plain(response), **extra)


def _plain(value: Any) -> Any:
    """ruamel's commented containers as plain dicts and lists (the contract serialises them)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
