"""Tensors in requests, against the model's signature.

``check_declared`` checks what a request *declares* (each input's name, datatype and shape, as V2
REST and gRPC send them before their data) so that a tensor the model would refuse is refused
before its data is decoded, and limits on elements and dimensions hold before any allocation.
``as_dtype`` reads JSON values as an array of a datatype; ``check_inputs`` and ``tabular_input``
check decoded arrays (TF-Serving and MLflow bodies declare nothing, so they are checked after).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aiedge.serve.errors import BadRequest, TooLarge
from aiedge.serve.limits import MAX_DIMS, Limits, setting
from aiedge.serve.runtimes.base import V2_TO_NUMPY, Array, ModelSignature, TensorSpec

_NUMERIC = frozenset(d for d in V2_TO_NUMPY if d != "BYTES")


def check_declared(
    sig: ModelSignature, declared: Sequence[tuple[str, str, str, Sequence[int]]], limits: Limits
) -> None:
    """``declared`` holds (field, name, datatype, shape) per input tensor, as the request gives them."""
    strings = 0
    for field, _, datatype, shape in declared:
        if datatype not in V2_TO_NUMPY:
            raise BadRequest(f"{field}.datatype: unknown datatype {datatype!r}")
        if len(shape) > MAX_DIMS:
            raise BadRequest(f"{field}.shape: {len(shape)} dimensions; at most {MAX_DIMS}")
        if datatype == "BYTES":
            strings += math.prod(shape)
    if sig.tabular:
        _check_tabular(sig.inputs[0], declared)
    else:
        _check_tensors(sig, declared)
    if strings > limits.max_string_elements:
        raise TooLarge(
            f"inputs: more than {limits.max_string_elements} BYTES elements in one request "
            f"({setting('max_string_elements')})"
        )


def _check_tensors(sig: ModelSignature, declared: Sequence[tuple[str, str, str, Sequence[int]]]) -> None:
    expected = sig.inputs_by_name
    for field, name, datatype, shape in declared:
        spec = expected.get(name)
        if spec is None:
            raise BadRequest(f"{field}: unknown input {name!r}; the model takes {', '.join(expected)}")
        if datatype != spec.datatype:
            raise BadRequest(f"{field}.datatype: expected {spec.datatype}, got {datatype}")
        want = spec.shape
        if want and want != (-1,) and not _shape_fits(want, shape):
            raise BadRequest(f"{field}.shape: {list(shape)} does not match the model's {list(want)}")
    n = len(expected)
    if len(declared) != n or (n > 1 and len({d[1] for d in declared}) != n):
        given = {d[1] for d in declared}
        missing = [name for name in expected if name not in given]
        if missing:
            raise BadRequest(f"inputs: missing input {missing[0]!r}")


def _check_tabular(spec: TensorSpec, declared: Sequence[tuple[str, str, str, Sequence[int]]]) -> None:
    features = spec.shape[1]
    if len(declared) != 1:
        raise BadRequest(f"inputs: this model takes one [N, {features}] input, got {len(declared)}")
    ((field, _, datatype, shape),) = declared
    if datatype not in _NUMERIC:
        raise BadRequest(f"{field}.datatype: expected a numeric datatype, got {datatype}")
    if len(shape) not in (1, 2) or features not in (-1, shape[-1]):
        raise BadRequest(f"{field}.shape: {list(shape)} does not match the model's [N, {features}]")


def check_inputs(specs: tuple[TensorSpec, ...], inputs: dict[str, Array]) -> None:
    """Names, datatypes and shapes of decoded arrays against the signature (``-1`` matches any size)."""
    expected = {s.name: s for s in specs}
    for name in inputs:
        if name not in expected:
            raise BadRequest(f"inputs: unknown input {name!r}; the model takes {', '.join(expected)}")
    for spec in specs:
        if spec.name not in inputs:
            raise BadRequest(f"inputs: missing input {spec.name!r}")
        arr = inputs[spec.name]
        want = V2_TO_NUMPY[spec.datatype]
        if arr.dtype != want and not (spec.datatype == "BYTES" and arr.dtype.kind in "OSU"):
            raise BadRequest(f"inputs[{spec.name}].datatype: expected {spec.datatype}")
        if spec.shape and spec.shape != (-1,) and not _shape_fits(spec.shape, arr.shape):
            raise BadRequest(
                f"inputs[{spec.name}].shape: {list(arr.shape)} does not match the model's {list(spec.shape)}"
            )


def tabular_input(spec: TensorSpec, inputs: dict[str, Array]) -> dict[str, Array]:
    """A tabular model's one input, whatever its name: numeric, [N, F], cast to the model's dtype."""
    if len(inputs) != 1:
        raise BadRequest(f"inputs: this model takes one [N, {spec.shape[1]}] input, got {len(inputs)}")
    ((name, arr),) = inputs.items()
    if arr.dtype.kind not in "biuf":
        raise BadRequest(f"inputs[{name}].datatype: expected a numeric datatype")
    if arr.ndim == 1 and spec.shape[1] in (-1, arr.shape[0]):
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or spec.shape[1] not in (-1, arr.shape[1]):
        raise BadRequest(
            f"inputs[{name}].shape: {list(arr.shape)} does not match the model's [N, {spec.shape[1]}]"
        )
    return {spec.name: arr.astype(V2_TO_NUMPY[spec.datatype], copy=False)}


def _shape_fits(want: Sequence[int], got: Sequence[int]) -> bool:
    if len(want) != len(got):
        return False
    for w, g in zip(want, got, strict=True):  # noqa: SIM110 - a loop: all() over a generator costs more per request
        if w != -1 and w != g:
            return False
    return True


_FLOAT_MAX: dict[np.dtype[Any], float] = {
    d: float(np.finfo(d).max) for d in (np.dtype(np.float16), np.dtype(np.float32))
}
_INT_RANGE: dict[np.dtype[Any], tuple[int, int]] = {
    np.dtype(t): (int(np.iinfo(t).min), int(np.iinfo(t).max))
    for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
}


def as_dtype(value: Any, datatype: str, field: str) -> Array:
    """A JSON value as an array of a V2 datatype; a clear BadRequest when it does not fit: text for
    a number, a fraction for an integer, or a value out of the datatype's range (never wrapped)."""
    dtype = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"{field}.datatype: unknown datatype {datatype!r}")
    try:
        if datatype == "BYTES":
            return np.asarray(value, dtype=np.object_)
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise BadRequest(f"{field}.data: cannot read as {datatype}: {e}") from e
    kind = arr.dtype.kind
    if kind not in "biuf":
        raise BadRequest(f"{field}.data: values are not {datatype}")
    if not arr.size or kind == "b" or dtype.kind == "b":
        return arr.astype(dtype, copy=False)
    if dtype.kind == "f":
        largest = _FLOAT_MAX.get(dtype)
        if largest is not None and not (kind == "f" and arr.dtype.itemsize <= dtype.itemsize):
            low, high = _bounds(value, arr)  # in range: the cast cannot overflow to inf
            if low < -largest or high > largest:
                bad = low if low < -largest else high
                raise BadRequest(f"{field}.data: {bad} is out of the {datatype} range (largest {largest:g})")
        return arr.astype(dtype, copy=False)
    low_ok, high_ok = _INT_RANGE[dtype]
    if kind == "f":  # fractions, or integers beyond int64 that numpy read as float64
        if not np.all(np.mod(arr, 1) == 0):
            raise BadRequest(f"{field}.data: values are not {datatype} (fractions)")
        try:  # read again exactly: float64 cannot tell 2**64 - 1 from 2**64
            return np.asarray(value, dtype=dtype)
        except (OverflowError, ValueError, TypeError) as e:
            raise BadRequest(
                f"{field}.data: a value is out of the {datatype} range [{low_ok}, {high_ok}]"
            ) from e
    low, high = _bounds(value, arr)
    if low < low_ok or high > high_ok:
        bad = low if low < low_ok else high
        raise BadRequest(f"{field}.data: {bad} is out of the {datatype} range [{low_ok}, {high_ok}]")
    return arr.astype(dtype, copy=False)


def _bounds(value: Any, arr: Array) -> tuple[Any, Any]:
    """(smallest, largest) of ``arr``, read from ``value`` (its JSON list) when that is quicker."""
    if arr.size <= 64:  # two numpy reductions cost more than this on a few values (2.8 vs 0.8 us)
        flat = value if arr.ndim == 1 and type(value) is list else arr.ravel().tolist()
        return min(flat), max(flat)
    return arr.min(), arr.max()
