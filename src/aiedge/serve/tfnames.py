"""TensorFlow Serving's names, for its two transports (REST ``rest/tfserving.py``, gRPC
``grpc/tfserving.py``): datatypes as TensorFlow's ``DataType`` enum (``DT_FLOAT`` = 1 ...), model
states, and the version rule: version ``0``, or none, means the latest version, as in TF Serving
(its clients, ``ovmsclient`` among them, ask for version 0 by default)."""

from __future__ import annotations

from aiedge.serve.registry import FAILED, LOADING, READY, UNLOADED, ModelRegistry

# V2 datatype -> (DataType name, number)
V2_TO_DT = {
    "FP32": ("DT_FLOAT", 1),
    "FP64": ("DT_DOUBLE", 2),
    "INT32": ("DT_INT32", 3),
    "UINT8": ("DT_UINT8", 4),
    "INT16": ("DT_INT16", 5),
    "INT8": ("DT_INT8", 6),
    "BYTES": ("DT_STRING", 7),
    "INT64": ("DT_INT64", 9),
    "BOOL": ("DT_BOOL", 10),
    "UINT16": ("DT_UINT16", 17),
    "FP16": ("DT_HALF", 19),
    "UINT32": ("DT_UINT32", 22),
    "UINT64": ("DT_UINT64", 23),
}
DT_NUMBER_TO_V2 = {number: v2 for v2, (_, number) in V2_TO_DT.items()}
# our load states -> ModelVersionStatus.State (name, number)
STATES = {READY: ("AVAILABLE", 30), LOADING: ("LOADING", 20), FAILED: ("END", 50), UNLOADED: ("END", 50)}
PREDICT_METHOD = "tensorflow/serving/predict"
DEFAULT_SIGNATURE = "serving_default"


def version_of(registry: ModelRegistry, name: str, version: str | None) -> str | None:
    """The version to serve for TF Serving's ``version``: None (the latest) for none or ``0``,
    unless the model really has a version named ``0``."""
    if version in (None, "", "0") and "0" not in registry.models.get(name, {}):
        return None
    return version
