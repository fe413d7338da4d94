"""NVIDIA's tritonclient against `aiedge serve`: HTTP (JSON and the binary tensor extension) and
gRPC (the Open Inference Protocol service) infer the seed's mnist exactly like onnxruntime, and
gRPC errors carry the right status codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.utils import InferenceServerException

from tests.support import Proc, aiedge_cmd, free_port, wait_http


@pytest.fixture(scope="module")
def mnist_server(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    from tests.support import shared_dir

    model_dir = shared_dir() / "seed-models/onnx-mnist"
    http_port, grpc_port = free_port(), free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(model_dir),
            "--name",
            "mnist",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
        ),
        tmp_path_factory.mktemp("triton") / "serve.log",
    )
    wait_http(f"http://127.0.0.1:{http_port}/v2/models/mnist/ready", timeout=60)
    yield f"127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}", model_dir  # type: ignore[misc]
    proc.stop()


def _expected(model_dir: Path, image: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(model_dir / "1/mnist.onnx")).run(None, {"Input3": image})[0]


def test_tritonclient_http_binary_and_json(mnist_server: tuple[str, str, Path]) -> None:
    http, _, model_dir = mnist_server
    client = thttp.InferenceServerClient(http)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
    image = np.random.default_rng(11).random((1, 1, 28, 28), dtype=np.float32)
    for binary in (True, False):
        inp = thttp.InferInput("Input3", [1, 1, 28, 28], "FP32")
        inp.set_data_from_numpy(image, binary_data=binary)
        out = thttp.InferRequestedOutput("Plus214_Output_0", binary_data=binary)
        result = client.infer("mnist", [inp], outputs=[out], model_version="1")
        np.testing.assert_array_equal(result.as_numpy("Plus214_Output_0"), _expected(model_dir, image))


def test_tritonclient_grpc(mnist_server: tuple[str, str, Path]) -> None:
    _, grpc_addr, model_dir = mnist_server
    client = tgrpc.InferenceServerClient(grpc_addr)
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("mnist")
    meta = client.get_model_metadata("mnist", as_json=True)
    assert meta["inputs"][0]["name"] == "Input3" and meta["platform"] == "onnxruntime"
    assert client.get_server_metadata(as_json=True)["name"] == "aiedge"
    image = np.random.default_rng(12).random((1, 1, 28, 28), dtype=np.float32)
    inp = tgrpc.InferInput("Input3", [1, 1, 28, 28], "FP32")
    inp.set_data_from_numpy(image)
    result = client.infer("mnist", [inp], outputs=[tgrpc.InferRequestedOutput("Plus214_Output_0")])
    np.testing.assert_array_equal(result.as_numpy("Plus214_Output_0"), _expected(model_dir, image))
    with pytest.raises(InferenceServerException, match="not served"):
        client.infer("nope", [inp])
    bad = tgrpc.InferInput("Input3", [1, 784], "FP32")
    bad.set_data_from_numpy(image.reshape(1, 784))
    with pytest.raises(InferenceServerException, match="shape"):
        client.infer("mnist", [bad])
