"""scikit-learn estimators (``model.joblib`` / ``model.pkl``), converted to ONNX at load.

sklearn's own ``predict`` costs ~190 us for one row of a 100-tree ensemble; the same model in
ONNX Runtime costs ~6 us. So the estimator is converted with skl2onnx and the conversion is
*checked* against sklearn on sample rows; when conversion fails or answers differ by more than
``RTOL``/``ATOL``, the model is served by sklearn itself, with a log line saying why.

Trees compare features in float32 in sklearn too, so splits agree; what differs is the sum of
leaf values (float32 in ONNX Runtime, float64 in sklearn): on a 100-tree regressor the largest
difference seen was 1.6e-6 absolute, 2.1e-6 relative. Set ``AIEDGE_SERVE_CONVERT_TABULAR=false``
to serve sklearn itself, bit for bit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError
from aiedge.serve.runtimes.base import (
    NUMPY_TO_V2,
    Array,
    LoadedModel,
    LoadOptions,
    ModelSignature,
    Runtime,
)
from aiedge.serve.runtimes.tabular import OUTPUT_NAME, tabular_signature

log = logging.getLogger("aiedge.serve")
CHECK_ROWS = 64
RTOL = ATOL = 1e-5


class SklearnModel(LoadedModel):
    def __init__(self, path: Path, *, convert: bool = True) -> None:
        import joblib

        try:
            est = joblib.load(path)
        except Exception as e:  # unpickling raises anything
            raise ModelLoadError(f"{path}: cannot unpickle a scikit-learn model: {e}") from e
        if not hasattr(est, "predict"):
            raise ModelLoadError(f"{path}: {type(est).__name__} has no predict()")
        n = getattr(est, "n_features_in_", None)
        if not isinstance(n, int):
            raise ModelLoadError(
                f"{path}: the estimator does not say how many features it takes (n_features_in_)"
            )
        self._estimator = est
        columns = tuple(str(c) for c in getattr(est, "feature_names_in_", ()))
        sample = np.random.default_rng(0).normal(size=(CHECK_ROWS, n)) * 3
        reference = np.asarray(est.predict(sample))
        self._predict: Callable[[Array], Array] = lambda x: np.asarray(est.predict(x))
        self.backend = "sklearn"
        if convert:
            onnx_predict, why = _convert(est, n, sample, reference)
            if onnx_predict is not None:
                self._predict, self.backend = onnx_predict, "onnxruntime"
            else:
                log.warning("%s: served by scikit-learn itself (ONNX conversion %s)", path, why)
        out_shape = (-1, *reference.shape[1:])
        self._signature = tabular_signature(
            n,
            out_shape,
            f"sklearn/{self.backend}",
            columns,
            output_datatype=NUMPY_TO_V2.get(reference.dtype, "BYTES"),
        )

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        (x,) = inputs.values()
        return {OUTPUT_NAME: self._predict(x)}


def _convert(
    est: Any, n: int, sample: Array, reference: Array
) -> tuple[Callable[[Array], Array] | None, str]:
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        options = {id(est): {"zipmap": False}} if hasattr(est, "predict_proba") else None
        onx = convert_sklearn(
            est,
            initial_types=[("input", FloatTensorType([None, n]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
            options=options,
        )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        session = ort.InferenceSession(onx.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # skl2onnx/onnxruntime raise many kinds for unsupported estimators
        return None, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
    out_name = session.get_outputs()[0].name

    def predict(x: Array) -> Array:
        result = session.run([out_name], {"input": np.asarray(x, dtype=np.float32)})[0]
        return (
            np.asarray(result).reshape((x.shape[0], *reference.shape[1:])).astype(reference.dtype, copy=False)
        )

    got = predict(sample)
    if reference.dtype.kind in "fc":
        ok = bool(np.allclose(got, reference, rtol=RTOL, atol=ATOL))
    else:
        ok = bool(np.array_equal(got, reference))
    if not ok:
        return None, f"differs from scikit-learn on {CHECK_ROWS} sample rows"
    return predict, ""


class SklearnRuntime(Runtime):
    name = "sklearn"
    formats = (formats.SKLEARN,)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> SklearnModel:
        return SklearnModel(path, convert=(options or LoadOptions()).convert_tabular)


RUNTIME = SklearnRuntime()
