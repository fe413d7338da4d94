"""The KServe Python SDK's V2 clients (REST and gRPC) against `aiedge serve`: readiness and
inference on the seed's mnist, matching onnxruntime in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import onnxruntime as ort
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

from tests.support import Proc, aiedge_cmd, free_port, wait_http


def test_kserve_sdk_rest_and_grpc(shared: Path, tmp_path: Path) -> None:
    model_dir = shared / "seed-models/onnx-mnist"
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
        tmp_path / "serve.log",
    )
    base = f"http://127.0.0.1:{http_port}"
    image = np.random.default_rng(5).random((1, 1, 28, 28), dtype=np.float32)
    want = ort.InferenceSession(str(model_dir / "1/mnist.onnx")).run(None, {"Input3": image})[0]

    async def go() -> None:
        inp = InferInput(name="Input3", shape=[1, 1, 28, 28], datatype="FP32")
        inp.set_data_from_numpy(image)
        request = InferRequest(model_name="mnist", infer_inputs=[inp])
        rest = InferenceRESTClient(RESTConfig(protocol="v2"))
        try:
            assert await rest.is_server_ready(base)
            assert await rest.is_model_ready(base, "mnist")
            result = await rest.infer(base, request, model_name="mnist")
            np.testing.assert_array_equal(result.outputs[0].as_numpy(), want)
        finally:
            await rest.close()
        grpc_client = InferenceGRPCClient(url=f"127.0.0.1:{grpc_port}")
        try:
            result = await grpc_client.infer(request)
            np.testing.assert_array_equal(result.outputs[0].as_numpy(), want)
        finally:
            await grpc_client.close()

    try:
        wait_http(f"{base}/v2/models/mnist/ready", timeout=60)
        asyncio.run(go())
    finally:
        proc.stop()
