"""Loading one model version with the runtime its format needs."""

from __future__ import annotations

from pathlib import Path

from aiedge.serve import formats
from aiedge.serve.runtimes.base import LoadedModel


def load_model(path: Path, *, precision: str = "f32") -> LoadedModel:
    """Detect the format at ``path`` (one version: a file or directory) and load it.

    ONNX goes to ONNX Runtime; OpenVINO IR and TF SavedModel go to OpenVINO.
    """
    fmt = formats.detect_format(path)
    target = formats.model_file(path, fmt)
    if fmt == formats.ONNX:
        from aiedge.serve.runtimes import onnx

        return onnx.load(target)
    from aiedge.serve.runtimes import openvino

    return openvino.load(target, precision)
