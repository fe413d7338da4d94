"""Every V2 datatype through a real `aiedge serve`: an ONNX model of Identity ops (one [-1, 2]
input and output per datatype, built here) round-trips each over V2 JSON, tritonclient's HTTP
binary extension and gRPC, BYTES with NUL and non-ASCII bytes included; JSON numbers that do not
fit the datatype (out of range, fractions for integers) get a 400 naming the input, never a
silently wrapped value."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp

from tests.serve.models import ONNX_TYPES, identity_model
from tests.support import Proc, aiedge_cmd, free_port, wait_http

ARRAYS = {
    "BOOL": np.array([[True, False], [False, True]]),
    "UINT8": np.array([[0, 1], [254, 255]], dtype=np.uint8),
    "UINT16": np.array([[0, 1], [2, 65535]], dtype=np.uint16),
    "UINT32": np.array([[0, 1], [2, 2**32 - 1]], dtype=np.uint32),
    "UINT64": np.array([[0, 1], [2, 2**64 - 1]], dtype=np.uint64),
    "INT8": np.array([[-128, -1], [0, 127]], dtype=np.int8),
    "INT16": np.array([[-32768, -1], [0, 32767]], dtype=np.int16),
    "INT32": np.array([[-(2**31), -1], [0, 2**31 - 1]], dtype=np.int32),
    "INT64": np.array([[-(2**63), -1], [0, 2**63 - 1]], dtype=np.int64),
    "FP16": np.array([[-1.5, 0.0], [0.25, 65504.0]], dtype=np.float16),
    "FP32": np.array([[-1.25, 0.0], [3.4e38, 1e-30]], dtype=np.float32),
    "FP64": np.array([[-1.1, 0.0], [1e300, 5e-324]], dtype=np.float64),
    "BYTES": np.array([[b"a", b"b\x00c"], ["é".encode(), b""]], dtype=np.object_),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    root = tmp_path_factory.mktemp("datatypes")
    identity_model(root / "identity/1/model.onnx")
    http_port, grpc_port = free_port(), free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(root / "identity"),
            "--name",
            "identity",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
        ),
        root / "serve.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{http_port}/v2/models/identity/ready", timeout=60)
        yield f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"
    finally:
        proc.stop()


def test_metadata_lists_every_datatype(server: tuple[str, str]) -> None:
    meta = httpx.get(f"http://{server[0]}/v2/models/identity").json()
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [
        (f"in_{d}", d, [-1, 2]) for d in ONNX_TYPES
    ]


def _json_data(arr: np.ndarray) -> list[object]:
    if arr.dtype == np.object_:
        return [v.decode() for v in arr.ravel()]
    return arr.ravel().tolist()  # type: ignore[no-any-return]


def _every_input(**replace: dict[str, object]) -> dict[str, object]:
    """A V2 body with every input of ARRAYS, ``replace`` putting other tensors in their place."""
    tensors = {
        d: {"name": f"in_{d}", "datatype": d, "shape": [2, 2], "data": _json_data(a)}
        for d, a in ARRAYS.items()
    }
    return {"inputs": list({**tensors, **replace}.values())}


def test_json_round_trips_every_datatype(server: tuple[str, str]) -> None:
    body = _every_input()
    r = httpx.post(f"http://{server[0]}/v2/models/identity/infer", json=body)
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    for d, a in ARRAYS.items():
        out = outputs[f"out_{d}"]
        assert (out["datatype"], out["shape"]) == (d, [2, 2])
        if d == "BYTES":
            assert out["data"] == ["a", "b\x00c", "é", ""]
        else:
            np.testing.assert_array_equal(np.asarray(out["data"], dtype=a.dtype), a.ravel(), err_msg=d)


def test_tritonclient_binary_and_grpc_round_trip_every_datatype(server: tuple[str, str]) -> None:
    http_client = thttp.InferenceServerClient(server[0])
    inputs = []
    for d, a in ARRAYS.items():
        t = thttp.InferInput(f"in_{d}", list(a.shape), d)
        t.set_data_from_numpy(a, binary_data=True)
        inputs.append(t)
    wanted = [thttp.InferRequestedOutput(f"out_{d}", binary_data=True) for d in ARRAYS]
    result = http_client.infer("identity", inputs, outputs=wanted)
    for d, a in ARRAYS.items():
        np.testing.assert_array_equal(result.as_numpy(f"out_{d}"), a, err_msg=f"http {d}")

    grpc_client = tgrpc.InferenceServerClient(server[1])
    grpc_inputs = []
    for d, a in ARRAYS.items():
        t = tgrpc.InferInput(f"in_{d}", list(a.shape), d)
        t.set_data_from_numpy(a)
        grpc_inputs.append(t)
    grpc_result = grpc_client.infer("identity", grpc_inputs)
    for d, a in ARRAYS.items():
        np.testing.assert_array_equal(grpc_result.as_numpy(f"out_{d}"), a, err_msg=f"grpc {d}")
    grpc_client.close()
    http_client.close()


@pytest.mark.parametrize(
    ("datatype", "value", "words"),
    [
        ("UINT8", 256, "out of the UINT8 range"),
        ("INT8", -129, "out of the INT8 range"),
        ("UINT32", -1, "out of the UINT32 range"),
        ("INT32", 2**31, "out of the INT32 range"),
        ("FP16", 1e5, "out of the FP16 range"),
        ("FP32", 1e39, "out of the FP32 range"),
        ("UINT64", 2**64, "out of the UINT64 range"),
        ("INT64", 0.5, "fractions"),
        ("FP32", "x", "values are not FP32"),
    ],
)
def test_values_that_do_not_fit_get_400(
    server: tuple[str, str], datatype: str, value: object, words: str
) -> None:
    # the other inputs are fine: the model takes them all, and only this value is wrong
    tensor = {"name": f"in_{datatype}", "datatype": datatype, "shape": [1, 2], "data": [value, 0]}
    r = httpx.post(f"http://{server[0]}/v2/models/identity/infer", json=_every_input(**{datatype: tensor}))
    assert r.status_code == 400, r.text
    assert f"inputs[in_{datatype}].data" in r.json()["error"] and words in r.json()["error"]
