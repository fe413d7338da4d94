"""The REST error table: serve's domain errors -> HTTP status codes. No other module maps them."""

from __future__ import annotations

from aiedge.serve.errors import (
    BadRequest,
    InferenceError,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    ServeError,
    TooLarge,
)
from aiedge.serve.rest.asgi import Response, json_response

STATUS: list[tuple[type[ServeError], int]] = [
    (BadRequest, 400),
    (InferenceError, 400),
    (ModelNotFound, 404),
    (ModelNotReady, 503),
    (Overloaded, 503),
    (TooLarge, 413),
]
# A full server: retry shortly. A refused large body keeps its connection: uvicorn throws the rest
# of it away unbuffered, so a client that sends its whole body before reading (most do) gets the
# 413 instead of a connection reset.
_HEADERS = {503: [(b"retry-after", b"1")]}


def error_response(err: ServeError) -> Response:
    for kind, status in STATUS:
        if isinstance(err, kind):
            return json_response({"error": str(err)}, status, _HEADERS.get(status, ()))
    return json_response({"error": str(err)}, 500)
