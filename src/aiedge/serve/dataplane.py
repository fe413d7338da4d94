"""The data plane: the one core every transport (V2 REST, TF-Serving REST, ...) calls.

It validates decoded tensors against the model's signature and runs inference off the event
loop. It knows nothing of HTTP: it raises serve errors, and transports map them to statuses.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from aiedge import __version__
from aiedge.serve.errors import BadRequest, InferenceError, ModelNotReady
from aiedge.serve.registry import READY, ModelRegistry, ModelVersion
from aiedge.serve.runtimes.base import V2_TO_NUMPY, Array, TensorSpec

SERVER_NAME = "aiedge"
EXTENSIONS = ["model_repository_extension"]


class DataPlane:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    # -- health and metadata ------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        versions = self.registry.all_versions()
        return bool(versions) and all(mv.state == READY for mv in versions)

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}

    def model_ready(self, name: str, version: str | None = None) -> ModelVersion:
        return self.registry.get(name, version)

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        mv = self.registry.get(name, version)
        meta: dict[str, Any] = {
            "name": mv.name,
            "versions": list(self.registry.models[mv.name]),
            "platform": "",
            "inputs": [],
            "outputs": [],
            "state": mv.state,
        }
        if mv.reason:
            meta["reason"] = mv.reason
        if mv.model is not None:
            sig = mv.model.signature
            meta["platform"] = sig.platform
            meta["inputs"] = [t.to_json() for t in sig.inputs]
            meta["outputs"] = [t.to_json() for t in sig.outputs]
        return meta

    # -- inference ------------------------------------------------------------------------------
    def loaded(self, name: str, version: str | None = None) -> ModelVersion:
        mv = self.registry.get(name, version)
        if mv.state != READY or mv.model is None:
            why = f": {mv.reason}" if mv.reason else ""
            raise ModelNotReady(f"model {name!r} version {mv.version} is {mv.state}{why}")
        return mv

    async def infer(self, mv: ModelVersion, inputs: dict[str, Array]) -> dict[str, Array]:
        assert mv.model is not None
        sig = mv.model.signature
        if sig.tabular:
            inputs = tabular_input(sig.inputs[0], inputs)
        else:
            check_inputs(sig.inputs, inputs)
        try:
            return await asyncio.to_thread(mv.model.predict, inputs)
        except Exception as e:  # the runtime's own error: the input passed our checks but not its own
            raise InferenceError(
                f"model {mv.name!r} rejected the input: {str(e).splitlines()[0][:300]}"
            ) from e


def check_inputs(specs: tuple[TensorSpec, ...], inputs: dict[str, Array]) -> None:
    """Names, datatypes and shapes against the signature (``-1`` matches any size)."""
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


def _shape_fits(want: tuple[int, ...], got: tuple[int, ...]) -> bool:
    return len(want) == len(got) and all(w in (-1, g) for w, g in zip(want, got, strict=True))


def as_dtype(value: Any, datatype: str, field: str) -> Array:
    """A JSON value as an array of a V2 datatype; a clear BadRequest when it does not fit."""
    dtype = V2_TO_NUMPY.get(datatype)
    if dtype is None:
        raise BadRequest(f"{field}.datatype: unknown datatype {datatype!r}")
    try:
        if datatype == "BYTES":
            return np.asarray(value, dtype=np.object_)
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and dtype.kind in "biu"):
            if arr.dtype.kind == "f" and dtype.kind in "iu" and np.all(np.mod(arr, 1) == 0):
                return arr.astype(dtype)
            raise BadRequest(f"{field}.data: values are not {datatype}")
        return arr.astype(dtype, casting="unsafe")
    except (ValueError, TypeError, OverflowError) as e:
        raise BadRequest(f"{field}.data: cannot read as {datatype}: {e}") from e
