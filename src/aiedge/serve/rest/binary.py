"""Triton's binary tensor data extension for the V2 REST protocol.

A request or response body is a JSON header of ``Inference-Header-Content-Length`` bytes, then the
raw bytes of each tensor whose ``parameters.binary_data_size`` is set, in order. Numbers are
little-endian, row-major; a BYTES tensor is a run of 4-byte little-endian lengths each followed
by that many bytes. NVIDIA's tritonclient uses this by default.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from aiedge.serve.errors import BadRequest
from aiedge.serve.runtimes.base import V2_TO_NUMPY, Array

HEADER = "inference-header-content-length"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """(JSON part, binary part) of a request body."""
    if header_length is None:
        return body, b""
    try:
        n = int(header_length)
    except ValueError as e:
        raise BadRequest(f"Inference-Header-Content-Length: {header_length!r} is not a number") from e
    if not 0 <= n <= len(body):
        raise BadRequest(f"Inference-Header-Content-Length: {n} is outside the body ({len(body)} bytes)")
    return body[:n], body[n:]


def read_tensor(raw: bytes, datatype: str, shape: list[int], field: str) -> Array:
    if datatype == "BYTES":
        items: list[bytes] = []
        pos = 0
        while pos < len(raw):
            if pos + 4 > len(raw):
                raise BadRequest(f"{field}: truncated BYTES element length")
            (length,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            if pos + length > len(raw):
                raise BadRequest(f"{field}: BYTES element runs past the data")
            items.append(raw[pos : pos + length])
            pos += length
        arr = np.empty(len(items), dtype=np.object_)
        arr[:] = items
    else:
        dtype = V2_TO_NUMPY.get(datatype)
        if dtype is None:
            raise BadRequest(f"{field}.datatype: unknown datatype {datatype!r}")
        if len(raw) % dtype.itemsize:
            raise BadRequest(f"{field}: {len(raw)} bytes is not a whole number of {datatype} values")
        arr = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype, copy=False)
    if arr.size != math.prod(shape):
        raise BadRequest(f"{field}: {arr.size} values do not fill shape {shape}")
    return arr.reshape(shape)


def tensor_bytes(arr: Array) -> bytes:
    if arr.dtype.kind in "OSU":
        out = bytearray()
        for item in arr.ravel().tolist():
            b = item if isinstance(item, bytes) else str(item).encode()
            out += struct.pack("<I", len(b)) + b
        return bytes(out)
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()
