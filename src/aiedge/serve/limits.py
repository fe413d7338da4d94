"""Limits on what one request may make the server hold: body bytes per route, BYTES elements,
dimensions, and the body bytes all requests together may hold at once.

Filled from the serve settings (``AIEDGE_SERVE_*``). The REST and gRPC transports enforce the byte
limits while a body arrives; ``serve.tensors`` checks the rest against what a request *declares*
(names, datatypes, shapes) before any tensor data is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024
# numpy's own limit; a request with more is refused as a bad request instead of crashing numpy
MAX_DIMS = 64
# the repository extension's bodies are {"ready": true}; nothing legitimate comes near this
CONTROL_BODY_BYTES = 64 * 1024


def setting(field: str) -> str:
    """The environment variable that sets ``field`` of the serve settings (named in refusals)."""
    return f"AIEDGE_SERVE_{field.upper()}"


@dataclass(frozen=True)
class Limits:
    # binary tensor data (Triton's extension, gRPC) is read zero-copy, so it may be large
    max_body_bytes: int = 32 * MiB
    # JSON and CSV become Python objects (up to ~20x their size while parsed), so they are smaller
    max_json_bytes: int = 8 * MiB
    # every BYTES element becomes a Python object (~40 bytes each, whatever its length)
    max_string_elements: int = 1024 * 1024
    # bodies held by all requests at once; past it new requests get 503 instead of memory growing
    body_budget_bytes: int = 128 * MiB
    body_timeout: float = 30.0  # seconds a client may take to send one body
