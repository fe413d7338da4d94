"""Small ONNX models the serve tests write themselves."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper

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
