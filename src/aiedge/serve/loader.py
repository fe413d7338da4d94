"""Loading one model version with the runtime its format needs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aiedge.serve import formats
from aiedge.serve.runtimes.base import Array, LoadedModel, LoadOptions, ModelSignature


def load_model(path: Path, *, precision: str = "f32", options: LoadOptions | None = None) -> LoadedModel:
    """Detect the format at ``path`` (one version: a file or directory) and load it.

    ONNX -> ONNX Runtime; OpenVINO IR and TF SavedModel -> OpenVINO; LightGBM -> LightGBM;
    scikit-learn -> ONNX Runtime after a checked conversion (or sklearn itself).
    """
    options = options or LoadOptions(precision=precision)
    resolved = formats.resolve(path)
    model: LoadedModel
    if resolved.format == formats.ONNX:
        from aiedge.serve.runtimes import onnx

        model = onnx.load(resolved.path, options)
    elif resolved.format == formats.LIGHTGBM:
        from aiedge.serve.runtimes import lightgbm

        model = lightgbm.load(resolved.path)
    elif resolved.format == formats.SKLEARN:
        from aiedge.serve.runtimes import sklearn

        model = sklearn.load(resolved.path, options)
    else:
        from aiedge.serve.runtimes import openvino

        model = openvino.load(resolved.path, options)
    if resolved.columns and not model.signature.columns:
        return _WithColumns(model, resolved.columns)
    return model


class _WithColumns(LoadedModel):
    """A model whose feature names come from its descriptor (MLflow's signature)."""

    def __init__(self, inner: LoadedModel, columns: tuple[str, ...]) -> None:
        self._inner = inner
        self._signature: ModelSignature = dataclasses.replace(inner.signature, columns=columns)

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        return self._inner.predict(inputs)
