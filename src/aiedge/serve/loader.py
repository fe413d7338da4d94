"""Loading one model version with the runtime its format needs.

Owns the format -> runtime table; runtime modules are imported only when a model needs them
(OpenVINO and LightGBM take a while to import). Does not own format detection (``serve.formats``)
or versions (``serve.repository``).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

from aiedge.extras import extra_for, install_hint
from aiedge.serve import formats
from aiedge.serve.errors import CodeRefused, MissingRuntime, ModelLoadError, PickleRefused
from aiedge.serve.mlmodel import PYFUNC, SKLEARN_ONNX
from aiedge.serve.runtimes.base import Array, LoadedModel, LoadOptions, ModelSignature, Runtime

# format -> runtime module under aiedge.serve.runtimes; ONNX follows LoadOptions.onnx_runtime
_RUNTIME_MODULES = {
    formats.ONNX: "onnx",
    formats.OPENVINO_IR: "openvino",
    formats.TF_SAVEDMODEL: "openvino",
    formats.LIGHTGBM: "lightgbm",
    formats.SKLEARN: "sklearn",
    SKLEARN_ONNX: "sklearn",
    PYFUNC: "pyfunc",
}
_FORMAT_NAMES = {
    formats.ONNX: "ONNX",
    formats.OPENVINO_IR: "OpenVINO IR",
    formats.TF_SAVEDMODEL: "a TensorFlow SavedModel (served by OpenVINO)",
    formats.LIGHTGBM: "a LightGBM model",
    formats.SKLEARN: "a scikit-learn model",
    SKLEARN_ONNX: "a scikit-learn model exported to ONNX",
    PYFUNC: "an MLflow pyfunc model",
}
PICKLED = frozenset({formats.SKLEARN, PYFUNC})  # formats whose loading runs the model's own code
ONNX_RUNTIMES = {"onnxruntime": "onnx", "openvino": "openvino"}


def runtime_for(fmt: str, options: LoadOptions | None = None) -> Runtime:
    """The runtime that loads format ``fmt`` (a name from ``serve.formats``)."""
    options = options or LoadOptions()
    module_name = _RUNTIME_MODULES.get(fmt)
    if fmt == formats.ONNX:
        module_name = ONNX_RUNTIMES.get(options.onnx_runtime)
        if module_name is None:
            raise ModelLoadError(
                f"onnx runtime {options.onnx_runtime!r}: choose one of {', '.join(ONNX_RUNTIMES)}"
            )
    if module_name is None:
        raise ModelLoadError(f"no runtime serves the {fmt!r} format")
    runtime = importlib.import_module(f"aiedge.serve.runtimes.{module_name}").RUNTIME
    assert isinstance(runtime, Runtime)
    return runtime


def refuse_pickles(paths: list[Path], options: LoadOptions) -> None:
    """PickleRefused for the first of ``paths`` (model versions) that is a pickle, unless allowed:
    for servers that should not start at all rather than serve the model as failed."""
    if options.allow_pickle:
        return
    for path in paths:
        resolved = formats.resolve(path)
        if resolved.format in PICKLED:
            raise _refusal(resolved.format, resolved.path)


def _refusal(fmt: str, path: Path) -> PickleRefused:
    return CodeRefused(path) if fmt == PYFUNC else PickleRefused(path)


def load_model(path: Path, *, precision: str = "f32", options: LoadOptions | None = None) -> LoadedModel:
    """Detect the format at ``path`` (one version: a file or directory) and load it.

    ONNX -> ONNX Runtime (or OpenVINO with ``onnx_runtime="openvino"``); OpenVINO IR and TF
    SavedModel -> OpenVINO; LightGBM -> LightGBM; scikit-learn -> ONNX Runtime after a checked
    conversion (or sklearn itself), and only with ``options.allow_pickle`` (PickleRefused before
    the file is opened otherwise); its ONNX export -> ONNX Runtime, no pickle. ``options`` win
    over ``precision`` when given.
    """
    options = options or LoadOptions(precision=precision)
    resolved = formats.resolve(path)
    if resolved.format in PICKLED and not options.allow_pickle:
        raise _refusal(resolved.format, resolved.path)
    try:
        model = runtime_for(resolved.format, options).load(resolved.path, options)
    except ModuleNotFoundError as e:
        if extra_for(e) is None:
            raise
        what = _FORMAT_NAMES.get(resolved.format, resolved.format)
        raise MissingRuntime(f"model {resolved.path} is {what}: {install_hint(e)}") from None
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
