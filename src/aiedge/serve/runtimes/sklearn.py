"""scikit-learn estimators: pickles (``model.joblib`` / ``model.pkl``, MLflow's sklearn flavour),
and their checked ONNX export (``aiedge build`` writes it, so that sites never unpickle).

**Unpickling runs code.** A pickle names functions to call while it loads (``os.system`` as well
as a class), so a pickled model is loaded only with ``LoadOptions.allow_pickle`` (``aiedge serve
--allow-pickle``), and the refusal comes before the file is opened.

sklearn's own ``predict`` costs ~190 us for one row of a 100-tree ensemble; the same model in
ONNX Runtime costs ~6 us. So the estimator is converted with skl2onnx and the conversion is
*checked* against sklearn on sample rows; when conversion fails or answers differ by more than
``RTOL``/``ATOL``, a pickle is served by sklearn itself, with a log line saying why.

Trees compare features in float32 in sklearn too, so splits agree; what differs is the sum of
leaf values (float32 in ONNX Runtime, float64 in sklearn): on a 100-tree regressor the largest
difference seen was 1.6e-6 absolute, 2.1e-6 relative. Set ``AIEDGE_SERVE_CONVERT_TABULAR=false``
to serve a pickle by sklearn itself, bit for bit.

The export (:func:`export_onnx`) is the same conversion, written as an MLflow model directory
(``MLmodel`` with the ``onnx`` flavour, ``model.onnx``); the ONNX file carries what serving it
needs (``aiedge.tabular``: features, output datatype and shape, the check's result), so it is
served with the same tabular interface as the pickle it came from.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiedge.serve import formats
from aiedge.serve.errors import ModelLoadError, PickleRefused
from aiedge.serve.mlmodel import SKLEARN_ONNX, write_converted
from aiedge.serve.runtimes.base import (
    NUMPY_TO_V2,
    V2_TO_NUMPY,
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
TABULAR_KEY = "aiedge.tabular"  # ONNX metadata: how to serve the export as the estimator was


@dataclass(frozen=True)
class Conversion:
    """A checked ONNX conversion of an estimator: the ONNX bytes and what the check found."""

    onnx: bytes
    n_features: int
    output_datatype: str
    output_shape: tuple[int, ...]  # without the batch dimension
    estimator: str
    max_abs_diff: float

    def record(self) -> dict[str, Any]:
        return {
            "converted_from": "sklearn",
            "estimator": self.estimator,
            "n_features": self.n_features,
            "output": {"datatype": self.output_datatype, "shape": [-1, *self.output_shape]},
            "check": {"rows": CHECK_ROWS, "rtol": RTOL, "atol": ATOL, "max_abs_diff": self.max_abs_diff},
        }


def _unpickle(path: Path, options: LoadOptions) -> Any:
    if not options.allow_pickle:
        raise PickleRefused(path)
    import joblib

    try:
        est = joblib.load(path)
    except Exception as e:  # unpickling raises anything
        raise ModelLoadError(f"{path}: cannot unpickle a scikit-learn model: {e}") from e
    if not hasattr(est, "predict"):
        raise ModelLoadError(f"{path}: {type(est).__name__} has no predict()")
    if not isinstance(getattr(est, "n_features_in_", None), int):
        raise ModelLoadError(
            f"{path}: the estimator does not say how many features it takes (n_features_in_)"
        )
    return est


class SklearnModel(LoadedModel):
    """A pickled estimator, served through its checked ONNX conversion or by sklearn itself."""

    def __init__(self, path: Path, options: LoadOptions) -> None:
        est = _unpickle(path, options)
        n: int = est.n_features_in_
        columns = tuple(str(c) for c in getattr(est, "feature_names_in_", ()))
        sample = _sample(n)
        reference = np.asarray(est.predict(sample))
        self._predict: Callable[[Array], Array] = lambda x: np.asarray(est.predict(x))
        self.backend = "sklearn"
        if options.convert_tabular:
            converted, why = _convert(est, n, sample, reference)
            if converted is not None:
                session = _session(converted.onnx)
                self._predict = _predictor(session, reference.dtype, reference.shape[1:])
                self.backend = "onnxruntime"
            else:
                log.warning("%s: served by scikit-learn itself (ONNX conversion %s)", path, why)
        self._signature = tabular_signature(
            n,
            (-1, *reference.shape[1:]),
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


class SklearnOnnxModel(LoadedModel):
    """The ONNX export of an estimator (no pickle): same signature and answers as the conversion
    of the pickle, read from the ONNX file's ``aiedge.tabular`` metadata."""

    def __init__(self, path: Path) -> None:
        try:
            session = _session(path.read_bytes())
            spec = json.loads(session.get_modelmeta().custom_metadata_map[TABULAR_KEY])
            n = int(spec["n_features"])
            datatype = str(spec["output"]["datatype"])
            shape = tuple(int(d) for d in spec["output"]["shape"])
            dtype = V2_TO_NUMPY[datatype]
        except Exception as e:  # onnxruntime's own errors, or metadata that is not ours
            raise ModelLoadError(
                f"{path}: not an ONNX export of a scikit-learn model aiedge made: {e}"
            ) from e
        self._predict = _predictor(session, dtype, shape[1:])
        columns = tuple(str(c) for c in spec.get("columns") or ())
        self._signature = tabular_signature(
            n, shape, "sklearn/onnxruntime", columns, output_datatype=datatype
        )

    @property
    def signature(self) -> ModelSignature:
        return self._signature

    def predict(self, inputs: dict[str, Array]) -> dict[str, Array]:
        (x,) = inputs.values()
        return {OUTPUT_NAME: self._predict(x)}


def _sample(n: int) -> Array:
    return np.random.default_rng(0).normal(size=(CHECK_ROWS, n)) * 3


def _session(onnx_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])


def _predictor(session: Any, dtype: np.dtype[Any], trailing: tuple[int, ...]) -> Callable[[Array], Array]:
    """predict() through ``session``, answering in sklearn's dtype and shape (regressors come
    back as [N, 1] from ONNX, [N] from sklearn)."""
    out_name = session.get_outputs()[0].name

    def predict(x: Array) -> Array:
        result = np.asarray(session.run([out_name], {"input": np.asarray(x, dtype=np.float32)})[0])
        return result.reshape((x.shape[0], *trailing)).astype(dtype, copy=False)

    return predict


def _convert(est: Any, n: int, sample: Array, reference: Array) -> tuple[Conversion | None, str]:
    """The checked conversion, or None and why not."""
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        options = {id(est): {"zipmap": False}} if hasattr(est, "predict_proba") else None
        onx = convert_sklearn(
            est,
            initial_types=[("input", FloatTensorType([None, n]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
            options=options,
        )
        onnx_bytes = onx.SerializeToString()
        got = _predictor(_session(onnx_bytes), reference.dtype, reference.shape[1:])(sample)
    except Exception as e:  # skl2onnx/onnxruntime raise many kinds for unsupported estimators
        return None, f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    if got.shape != reference.shape:
        return None, f"answers in shape {got.shape}, scikit-learn in {reference.shape}"
    if reference.dtype.kind in "fc":
        ok = bool(np.allclose(got, reference, rtol=RTOL, atol=ATOL))
        diff = float(np.max(np.abs(got.astype(np.float64) - reference.astype(np.float64)), initial=0.0))
    else:
        ok, diff = bool(np.array_equal(got, reference)), 0.0
    if not ok:
        return None, f"differs from scikit-learn on {CHECK_ROWS} sample rows"
    conversion = Conversion(
        onnx=onnx_bytes,
        n_features=n,
        output_datatype=NUMPY_TO_V2.get(reference.dtype, "BYTES"),
        output_shape=tuple(reference.shape[1:]),
        estimator=type(est).__name__,
        max_abs_diff=diff,
    )
    return conversion, ""


def export_onnx(path: Path, dest: Path, columns: tuple[str, ...], options: LoadOptions) -> dict[str, Any]:
    """Unpickle the estimator at ``path`` (``options.allow_pickle`` must say so), convert and check
    it, and write the export into the new folder ``dest``; returns the check's record. Raises
    ModelLoadError when the conversion fails or answers differently."""
    est = _unpickle(path, options)
    n: int = est.n_features_in_
    sample = _sample(n)
    converted, why = _convert(est, n, sample, np.asarray(est.predict(sample)))
    if converted is None:
        raise ModelLoadError(f"{path}: the ONNX conversion of {type(est).__name__} {why}")
    import onnx

    record = converted.record()
    columns = columns or tuple(str(c) for c in getattr(est, "feature_names_in_", ()))
    model = onnx.load_from_string(converted.onnx)
    entry = model.metadata_props.add()
    entry.key, entry.value = TABULAR_KEY, json.dumps({**record, "columns": list(columns)}, sort_keys=True)
    write_converted(dest, model.SerializeToString(deterministic=True), record, columns)
    return record


class SklearnRuntime(Runtime):
    name = "sklearn"
    formats = (formats.SKLEARN, SKLEARN_ONNX)

    def can_load(self, path: Path) -> bool:
        return formats.is_format(path, self.formats)

    def load(self, path: Path, options: LoadOptions | None = None) -> SklearnModel | SklearnOnnxModel:
        if path.suffix.lower() == ".onnx":
            return SklearnOnnxModel(path)
        return SklearnModel(path, options or LoadOptions())


RUNTIME = SklearnRuntime()
