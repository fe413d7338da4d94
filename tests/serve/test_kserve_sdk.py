"""The KServe Python SDK's V2 clients (REST and gRPC) against `aiedge serve`: readiness and
inference on the seed's mnist, matching onnxruntime in-process.

The SDK runs in a child interpreter: kserve and tritonclient both register the protocol's
``inference.*`` protobuf messages in the process-wide descriptor pool, so one process cannot
import both (the tritonclient tests share this worker)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tests.support import Proc, aiedge_cmd, free_port, wait_http

CLIENT = """
import asyncio, json, sys
import numpy as np
from kserve import InferenceGRPCClient, InferenceRESTClient, InferInput, InferRequest, RESTConfig

base, grpc_addr, image_file = sys.argv[1:4]
image = np.load(image_file)

async def go():
    inp = InferInput(name="Input3", shape=[1, 1, 28, 28], datatype="FP32")
    inp.set_data_from_numpy(image)
    request = InferRequest(model_name="mnist", infer_inputs=[inp])
    rest = InferenceRESTClient(RESTConfig(protocol="v2"))
    try:
        ready = await rest.is_server_ready(base) and await rest.is_model_ready(base, "mnist")
        via_rest = (await rest.infer(base, request, model_name="mnist")).outputs[0].as_numpy()
    finally:
        await rest.close()
    grpc_client = InferenceGRPCClient(url=grpc_addr)
    try:
        via_grpc = (await grpc_client.infer(request)).outputs[0].as_numpy()
    finally:
        await grpc_client.close()
    print(json.dumps({"ready": ready, "rest": via_rest.tolist(), "grpc": via_grpc.tolist()}))

asyncio.run(go())
"""


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
    np.save(tmp_path / "image.npy", image)
    want = ort.InferenceSession(str(model_dir / "1/mnist.onnx")).run(None, {"Input3": image})[0]
    try:
        wait_http(f"{base}/v2/models/mnist/ready", timeout=60)
        out = subprocess.run(
            [sys.executable, "-c", CLIENT, base, f"127.0.0.1:{grpc_port}", str(tmp_path / "image.npy")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["ready"] is True
        np.testing.assert_array_equal(np.asarray(got["rest"], dtype=np.float32), want)
        np.testing.assert_array_equal(np.asarray(got["grpc"], dtype=np.float32), want)
    finally:
        proc.stop()
