"""Small ONNX models the serve tests write themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_TYPES = {
    "BOOL": TensorProto.BOOL,
    "UINT8": TensorProto.UINT8,
    "UINT16": TensorProto.UINT16,
    "UINT32": TensorProto.UINT32,
    "UINT64": TensorProto.UINT64,
    "INT8": TensorProto.INT8,
    "INT16": TensorProto.INT16,
    "INT32": TensorProto.INT32,
    "INT64": TensorProto.INT64,
    "FP16": TensorProto.FLOAT16,
    "FP32": TensorProto.FLOAT,
    "FP64": TensorProto.DOUBLE,
    "BYTES": TensorProto.STRING,
}


def identity_model(path: Path, datatypes: tuple[str, ...] = tuple(ONNX_TYPES)) -> None:
    """Identity ops, one [-1, 2] input ``in_D`` and output ``out_D`` per datatype ``D``."""
    nodes, inputs, outputs = [], [], []
    for datatype in datatypes:
        onnx_type = ONNX_TYPES[datatype]
        inputs.append(helper.make_tensor_value_info(f"in_{datatype}", onnx_type, ["N", 2]))
        outputs.append(helper.make_tensor_value_info(f"out_{datatype}", onnx_type, ["N", 2]))
        nodes.append(helper.make_node("Identity", [f"in_{datatype}"], [f"out_{datatype}"]))
    model = helper.make_model(
        helper.make_graph(nodes, "identity", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)]
    )
    model.ir_version = 8
    path.parent.mkdir(parents=True)
    onnx.save(model, str(path))


def cnn_model(path: Path, seed: int = 0, batch: int | str = "N") -> None:
    """A small image model: x [batch, 1, 28, 28] -> y [batch, 10] (Conv, Relu, global average
    pool, Gemm), fixed random weights; ``batch`` "N" is variable."""
    import numpy as np
    from onnx import numpy_helper

    rng = np.random.default_rng(seed)
    weights = [
        numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
        numpy_helper.from_array(rng.standard_normal((8, 10)).astype(np.float32), "g"),
        numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "c"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["h1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("GlobalAveragePool", ["h2"], ["h3"]),
        helper.make_node("Flatten", ["h3"], ["h4"]),
        helper.make_node("Gemm", ["h4", "g", "c"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def openvino_ir(onnx_path: Path, ir_path: Path) -> None:
    """The ONNX model at ``onnx_path`` converted to OpenVINO IR (``.xml`` + ``.bin``)."""
    import openvino as ov

    ir_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(str(onnx_path)), str(ir_path))


def slow_model(dest: Path, depth: int = 8, rows: int = 64) -> Path:
    """An ONNX model that takes tens of milliseconds (``rows`` 64): ``depth`` chained 1024x1024
    matrix products on a [rows, 1024] input."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array((rng.random((1024, 1024), dtype=np.float32) - 0.5) / 32, "w")
    nodes = [
        helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", "w"], [f"h{i + 1}"]) for i in range(depth)
    ]
    nodes.append(helper.make_node("Identity", [f"h{depth}"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "slow",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, 1024])],
        initializer=[w],
    )
    dest.mkdir(parents=True)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(dest / "model.onnx"))
    return dest
