"""Dynamic batching (``--max-batch``, ``--batch-delay``) through a real `aiedge serve`: concurrent
requests to a model with a variable batch dimension run as fewer predicts than requests, and each
gets exactly its own rows (the answer onnxruntime gives it alone), over V2 JSON, TF-Serving and
gRPC alike; requests of other shapes are not mixed; a model with a fixed batch of 1 (the seed's
mnist) is served unbatched."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import tritonclient.grpc as tgrpc
from prometheus_client.parser import text_string_to_metric_families

from tests.serve.helpers import Server, grpc_address
from tests.serve.models import cnn_model


def _predicts(url: str, model: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "aiedge_serve_inference_duration_seconds_count" and s.labels["model"] == model
    )


def test_concurrent_requests_are_batched_and_each_gets_its_rows(serve: Server, tmp_path: Path) -> None:
    cnn_model(tmp_path / "cnn/1/model.onnx")
    url = serve(tmp_path / "cnn", "cnn", "--max-batch", "8", "--batch-delay", "0.2")
    session = ort.InferenceSession(str(tmp_path / "cnn/1/model.onnx"))
    rng = np.random.default_rng(3)
    images = [rng.random((rows, 1, 28, 28), dtype=np.float32) for rows in [1] * 12 + [2, 3]]
    # the answer each would get alone (Conv sums in another order in a batch: float32 closeness)
    want = [session.run(None, {"x": im})[0] for im in images]

    def body(im: np.ndarray) -> dict[str, object]:
        return {
            "inputs": [
                {"name": "x", "shape": list(im.shape), "datatype": "FP32", "data": im.ravel().tolist()}
            ]
        }

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *[client.post(f"{url}/v2/models/cnn/infer", json=body(im)) for im in images]
            )

    before = _predicts(url, "cnn")
    responses = asyncio.run(burst())
    for r, im, w in zip(responses, images, want, strict=True):
        assert r.status_code == 200, r.text
        out = r.json()["outputs"][0]
        assert out["shape"] == [im.shape[0], 10]
        np.testing.assert_allclose(
            np.asarray(out["data"], dtype=np.float32).reshape(w.shape), w, rtol=1e-5, atol=1e-5
        )
    assert _predicts(url, "cnn") - before < len(images)  # fewer predicts than requests: batched
    # other protocols go through the same batcher
    r = httpx.post(f"{url}/v1/models/cnn:predict", json={"instances": images[0].tolist()})
    np.testing.assert_allclose(
        np.asarray(r.json()["predictions"], dtype=np.float32), want[0], rtol=1e-5, atol=1e-5
    )
    client = tgrpc.InferenceServerClient(grpc_address(url))
    x = tgrpc.InferInput("x", [2, 1, 28, 28], "FP32")
    x.set_data_from_numpy(images[12])
    np.testing.assert_allclose(client.infer("cnn", [x]).as_numpy("y"), want[12], rtol=1e-5, atol=1e-5)
    client.close()


def test_a_fixed_batch_model_is_served_unbatched(serve: Server, shared: Path) -> None:
    url = serve(shared / "seed-models/onnx-mnist", "mnist", "--max-batch", "8")
    image = np.random.default_rng(4).random((1, 1, 28, 28), dtype=np.float32)
    want = ort.InferenceSession(str(shared / "seed-models/onnx-mnist/1/mnist.onnx")).run(
        None, {"Input3": image}
    )[0]
    body = {
        "inputs": [
            {"name": "Input3", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": image.ravel().tolist()}
        ]
    }

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *[client.post(f"{url}/v2/models/mnist/infer", json=body) for _ in range(6)]
            )

    for r in asyncio.run(burst()):
        assert r.status_code == 200, r.text
        np.testing.assert_array_equal(
            np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32), want.ravel()
        )
