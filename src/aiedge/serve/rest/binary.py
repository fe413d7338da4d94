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

from aiedge.serve.errors import BadRequest, TooLarge
from aiedge.serve.limits import setting
from aiedge.serve.runtimes.base import V2_TO_NUMPY, Array

HEADER = b"inference-header-content-length"


def split_body(body: bytes, header_length: str | None, max_json: int) -> tuple[bytes, memoryview]:
    """(JSON part, binary part) of a request body; the JSON part is at most ``max_json`` bytes. The
    binary part is a view: tensors are read from the body without copying it."""
    if header_length is None:
        return body, memoryview(b"")
    if not header_length.isdigit():
        raise BadRequest(f"Inference-Header-Content-Length: {header_length[:40]!r} is not a number")
    n = int(header_length)
    if n > len(body):
        raise BadRequest(f"Inference-Header-Content-Length: {n} is outside the body ({len(body)} bytes)")
    if n > max_json:
        raise TooLarge(
            f"Inference-Header-Content-Length: {n} bytes of JSON is more than this server takes "
            f"({max_json} bytes, {setting('max_json_bytes')})"
        )
    view = memoryview(body)
    return bytes(view[:n]), view[n:]


def read_tensor(raw: bytes | memoryview, datatype: str, shape: list[int], field: str) -> Array:
    """The tensor in ``raw``, exactly ``shape`` (already checked against the limits: a BYTES tensor
    reads no more elements than its shape declares, however many the data holds)."""
    if datatype == "BYTES":
        count = math.prod(shape)
        if count * 4 > len(raw):  # every element has a 4-byte length
            raise BadRequest(f"{field}: {len(raw)} bytes cannot hold the shape's {count} BYTES elements")
        arr = np.empty(count, dtype=np.object_)
        pos = 0
        for i in range(count):
            if pos + 4 > len(raw):
                raise BadRequest(f"{field}: {i} BYTES elements in the data, the shape needs {count}")
            (length,) = struct.unpack_from("<I", raw, pos)
            pos += 4
            if pos + length > len(raw):
                raise BadRequest(f"{field}: BYTES element {i} runs past the data")
            arr[i] = bytes(raw[pos : pos + length])
            pos += length
        if pos != len(raw):
            raise BadRequest(f"{field}: more BYTES data than the shape's {count} elements")
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
