"""What a TF SavedModel says about its serving signature, read from ``saved_model.pb`` without
TensorFlow: the ``serving_default`` signature's inputs and outputs, with dimensions the signature
leaves open (-1) filled in from the functions the model was traced with when they all agree.

The seed's housing model is the case in point: its signature says ``x: [-1, -1]``, its traced
functions ``[-1, 8]``, ``[32, 8]``, ``[4, 8]``: it takes ``[-1, 8]``, and a ``[1, 3]`` row is a
request to refuse with a 400 naming the shape, not an error from deep inside the runtime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiedge.serve.grpc.tfs.tensorflow.core.protobuf import meta_graph_pb2

SERVING = "serving_default"
_MAX_BYTES = 1 << 30  # the graph, not the weights (those are in variables/)


def signature_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape for the serving signature's inputs and outputs; {} when unknown."""
    path = model_dir / "saved_model.pb"
    try:
        if path.stat().st_size > _MAX_BYTES:
            return {}
        metas = [meta_graph_pb2.MetaGraphDef.FromString(chunk) for chunk in _field(path.read_bytes(), 2)]
    except (OSError, ValueError, RuntimeError):  # unreadable or not a SavedModel: the runtime says why
        return {}
    for meta in metas:
        signature = meta.signature_def.get(SERVING)
        if signature is None:
            continue
        traced = _traced(meta)
        shapes = {}
        for infos in (signature.inputs, signature.outputs):
            for key, info in infos.items():
                if info.tensor_shape.unknown_rank:
                    continue
                shape = [d.size for d in info.tensor_shape.dim]
                shapes[key] = _refine(shape, traced.get(key, []))
        return shapes
    return {}


def _refine(shape: list[int], traced: list[list[int]]) -> tuple[int, ...]:
    out = list(shape)
    for i, d in enumerate(out):
        if d == -1:
            known = {t[i] for t in traced if len(t) == len(out) and t[i] != -1}
            if len(known) == 1:
                out[i] = known.pop()
    return tuple(out)


def _traced(meta: Any) -> dict[str, list[list[int]]]:
    """Input name -> the shapes of every traced function's input of that name."""
    found: dict[str, list[list[int]]] = {}

    def walk(value: Any) -> None:
        kind = value.WhichOneof("kind")
        if kind == "tensor_spec_value":
            spec = value.tensor_spec_value
            if not spec.shape.unknown_rank:
                found.setdefault(spec.name, []).append([d.size for d in spec.shape.dim])
        elif kind in ("list_value", "tuple_value"):
            for v in getattr(value, kind).values:
                walk(v)
        elif kind == "dict_value":
            for v in value.dict_value.fields.values():
                walk(v)

    for function in meta.object_graph_def.concrete_functions.values():
        walk(function.canonicalized_input_signature)
    return found


def _field(data: bytes, number: int) -> list[bytes]:
    """The length-delimited values of top-level field ``number`` of a protobuf message."""
    out, pos = [], 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        kind = key & 7
        if kind == 0:
            _, pos = _varint(data, pos)
        elif kind == 2:
            n, pos = _varint(data, pos)
            if key >> 3 == number:
                out.append(data[pos : pos + n])
            pos += n
        elif kind in (1, 5):
            pos += 8 if kind == 1 else 4
        else:
            raise ValueError(f"saved_model.pb: wire type {kind} at byte {pos}")
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("saved_model.pb: truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
