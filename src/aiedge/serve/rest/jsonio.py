"""JSON in and out of the REST transports: fast parsing (orjson) and output tensors as JSON.

float32 values are written with 9 significant digits, as TensorFlow Serving writes them, so
the seed's housing answer reads ``-28.7639923`` (the float32's shortest repr would be -28.763992).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from starlette.responses import Response

from aiedge.serve.errors import BadRequest
from aiedge.serve.runtimes.base import Array


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("body: empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"body: malformed JSON: {e}") from e


def json_response(content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content), status_code=status_code, media_type="application/json", headers=headers
    )


def to_json_value(arr: Array) -> Any:
    """An output array as nested JSON lists (or a scalar), float32 at 9 significant digits."""
    if arr.dtype == np.float32:
        return np.char.mod("%.9g", arr).astype(np.float64).tolist()
    if arr.dtype == np.float16:
        return arr.astype(np.float64).tolist()
    if arr.dtype.kind == "O" or arr.dtype.kind == "S":
        return np.vectorize(_text, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    return arr.tolist()


def _text(v: Any) -> Any:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
