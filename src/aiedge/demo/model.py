"""The demo's own model: a small, deterministic ONNX regressor that aiedge writes itself.

A fresh clone has no models, so ``aiedge demo`` makes one: a linear regressor over the eight
California-housing features the seed's model takes (``y = x . w + b``), with fixed weights, so
the same bytes, the same image digest and the same answers come out on every machine. Its test
request mirrors the seed's housing request; the weights make that answer exactly 6.5.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEMO_MODEL_NAME = "housing-demo"
WEIGHTS = (0.5, -0.25, 1.0, 2.0, -0.5, 0.75, -1.5, 0.125)
BIAS = 3.0
TEST_ROW = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


def predict(rows: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The model's answer computed with numpy (float32), for tests and the expected response."""
    w = np.asarray(WEIGHTS, dtype=np.float32)
    return (rows.astype(np.float32) @ w + np.float32(BIAS)).astype(np.float32)


def model_proto() -> onnx.ModelProto:
    w = numpy_helper.from_array(np.asarray(WEIGHTS, dtype=np.float32).reshape(8, 1), "w")
    b = numpy_helper.from_array(np.asarray([BIAS], dtype=np.float32), "b")
    axes = numpy_helper.from_array(np.asarray([1], dtype=np.int64), "squeeze_axes")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["y2d"]),
            helper.make_node("Squeeze", ["y2d", "squeeze_axes"], ["predictions"]),
        ],
        "housing_demo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["batch"])],
        initializer=[w, b, axes],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 13)],
        producer_name="aiedge-demo",
        producer_version="1",
    )
    model.ir_version = 8  # readable by every onnxruntime we support
    onnx.checker.check_model(model)
    return model


def write_demo_model(dest: Path) -> Path:
    """Write the model as ``dest/model.onnx`` (byte-identical on every run); returns ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "model.onnx").write_bytes(model_proto().SerializeToString(deterministic=True))
    return dest


def demo_test_data() -> dict[str, Any]:
    """The demo app's smoke test, as ``{"request": ..., "response": ...}`` (TF-Serving v1 predict)."""
    expected = float(predict(np.asarray([TEST_ROW], dtype=np.float32))[0])
    return {"request": {"instances": [list(TEST_ROW)]}, "response": {"predictions": [expected]}}
