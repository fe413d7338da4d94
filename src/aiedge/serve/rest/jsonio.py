"""JSON in and out of the REST transports: fast parsing (orjson) and output tensors as JSON.

float32 values are written with 9 significant digits, as TensorFlow Serving writes them, so
the seed's housing answer reads ``-28.7639923`` (the float32's shortest repr would be -28.763992).

Small outputs become Python lists; large ones stay numpy arrays that orjson writes itself
(``DUMPS``), because a Python float per element took ~30 bytes and ~0.6 us each: a 4-million
element output took 250 MB to answer. ``round9`` gives, for every float32, exactly the double
``float(f"{v:.9g}")`` gives (checked on 47 million values, random bit patterns included), in
chunks, with the few values it cannot decide in numpy (near a rounding tie, beyond 1e±22)
formatted one by one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from aiedge.serve.errors import BadRequest
from aiedge.serve.runtimes.base import Array


def parse_json(body: bytes) -> Any:
    if not body:
        raise BadRequest("body: empty; expected a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"body: malformed JSON: {e}") from e


DUMPS = orjson.OPT_SERIALIZE_NUMPY  # the option every response that may hold outputs is dumped with
SMALL = 256  # outputs up to this many elements go out as Python lists (quicker than numpy's steps)
_CHUNK = 65536
_POW10 = 10.0 ** np.arange(23)  # exact in float64


def to_json_value(arr: Array) -> Any:
    """An output array as JSON: nested lists (or a scalar), or for large arrays a C-contiguous
    numpy array for orjson (``DUMPS``); float32 at 9 significant digits."""
    if arr.size > SMALL and arr.dtype.kind in "biuf":
        if arr.dtype == np.float32:
            return round9(arr)
        if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
            return arr.astype(np.float64)
        return np.ascontiguousarray(arr)
    if arr.dtype == np.float32 and arr.size:
        # the exact float32 value printed to 9 digits, read back as the double orjson prints
        return _nest([float(f"{v:.9g}") for v in arr.ravel().tolist()], arr.shape)
    if arr.dtype.kind == "f" and arr.dtype.itemsize < 8:
        return arr.astype(np.float64).tolist()
    if arr.dtype.kind == "O" or arr.dtype.kind == "S":
        return np.vectorize(_text, otypes=[object])(arr).tolist() if arr.size else arr.tolist()
    return arr.tolist()


def _nest(flat: list[Any], shape: tuple[int, ...]) -> Any:
    """``flat`` (row-major, not empty) as nested lists of ``shape``, as ``ndarray.tolist`` gives them."""
    if not shape:
        return flat[0]
    for n in reversed(shape[1:]):
        flat = [flat[i : i + n] for i in range(0, len(flat), n)]
    return flat


def round9(x: Array) -> Array:
    """float64 values of ``x`` (float32) printed to 9 significant digits and read back."""
    flat = x.ravel()
    out = np.empty(flat.size, dtype=np.float64)
    for i in range(0, flat.size, _CHUNK):  # chunks: a dozen temporaries of the whole array are big
        out[i : i + _CHUNK] = _round9(flat[i : i + _CHUNK])
    return out.reshape(x.shape)


def _round9(x: Array) -> Array:
    d = x.astype(np.float64)
    with np.errstate(all="ignore"):  # zeros, infinities and NaN: never "sure", kept as they are
        k = 8 - np.floor(np.log10(np.abs(d)))  # scale that puts 9 digits before the point
        ok = np.isfinite(k) & (np.abs(k) <= 22)  # 10**|k| is exact
        ki = np.where(ok, k, 0).astype(np.int64)
        up = ki >= 0
        scale = _POW10[np.abs(ki)]
        # exact for k <= 12 (24-bit mantissa times 5**k fits 53 bits); otherwise off by at most an
        # ulp, which matters only within 1e-6 of a tie: those go the slow way
        q = np.where(up, d * scale, d / scale)
        n = np.rint(q)
        magnitude = np.abs(n)
        sure = ok & (np.abs(q - np.floor(q) - 0.5) > 1e-6) & (magnitude >= 1e8) & (magnitude <= 1e9)
        out = np.where(sure, np.where(up, n / scale, n * scale), d)
    slow = np.flatnonzero(~sure & np.isfinite(d) & (d != 0))
    if slow.size:
        out[slow] = [float(f"{v:.9g}") for v in d[slow].tolist()]
    return out


def _text(v: Any) -> Any:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else v
