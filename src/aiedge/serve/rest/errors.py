"""The REST error table: serve's domain errors -> HTTP status codes. No other module maps them."""

from __future__ import annotations

from starlette.responses import Response

from aiedge.serve.errors import (
    BadRequest,
    InferenceError,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    ServeError,
)
from aiedge.serve.rest.jsonio import json_response

STATUS: list[tuple[type[ServeError], int]] = [
    (BadRequest, 400),
    (InferenceError, 400),
    (ModelNotFound, 404),
    (ModelNotReady, 503),
    (Overloaded, 503),
]


def error_response(err: ServeError) -> Response:
    for kind, status in STATUS:
        if isinstance(err, kind):
            headers = {"Retry-After": "1"} if status == 503 else None
            return json_response({"error": str(err)}, status, headers)
    return json_response({"error": str(err)}, 500)
