"""`aiedge serve` as a real process: the seed's models answer like their frameworks do, over
TF-Serving v1 and KServe V2 REST; bad requests get 400/404 naming the field; a broken model
leaves the server up and reports why it is not ready."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort

from tests.serve.helpers import Server

HOUSING_ROW = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]


def test_housing_answers_the_seed_request_in_float32(serve: Server, shared: Path) -> None:
    url = serve(shared / "seed-models/tensorflow-housing/tf2model", "tensorflow-housing")
    r = httpx.post(
        f"{url}/v1/models/tensorflow-housing/versions/1:predict",
        content=b'{"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}',
    )
    assert r.status_code == 200
    assert r.text == '{"predictions":[-28.7639923]}'
    # integers, the unversioned path and the columnar format give the same answer
    r = httpx.post(f"{url}/v1/models/tensorflow-housing:predict", json={"inputs": [[1, 2, 3, 4, 5, 6, 7, 8]]})
    assert r.json() == {"outputs": [-28.7639923]}
    # V2, a batch of two rows
    r = httpx.post(
        f"{url}/v2/models/tensorflow-housing/versions/1/infer",
        json={"inputs": [{"name": "x", "shape": [2, 8], "datatype": "FP32", "data": HOUSING_ROW * 2}]},
    )
    out = r.json()["outputs"][0]
    assert out["datatype"] == "FP32" and out["shape"] == [2]
    assert out["data"] == [-28.7639923, -28.7639923]
    status = httpx.get(f"{url}/v1/models/tensorflow-housing/versions/1").json()
    assert status["model_version_status"][0]["state"] == "AVAILABLE"


def test_mnist_v2_infer_equals_onnxruntime_in_process(serve: Server, shared: Path) -> None:
    model_dir = shared / "seed-models/onnx-mnist"
    url = serve(model_dir, "mnist")
    meta = httpx.get(f"{url}/v2/models/mnist").json()
    assert meta["inputs"] == [{"name": "Input3", "datatype": "FP32", "shape": [1, 1, 28, 28]}]
    assert meta["outputs"] == [{"name": "Plus214_Output_0", "datatype": "FP32", "shape": [1, 10]}]
    image = np.random.default_rng(7).random((1, 1, 28, 28), dtype=np.float32)
    r = httpx.post(
        f"{url}/v2/models/mnist/infer",
        json={
            "inputs": [
                {
                    "name": "Input3",
                    "shape": [1, 1, 28, 28],
                    "datatype": "FP32",
                    "data": image.ravel().tolist(),
                }
            ]
        },
    )
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32)
    want = ort.InferenceSession(str(model_dir / "1/mnist.onnx")).run(None, {"Input3": image})[0].ravel()
    np.testing.assert_array_equal(got, want)  # float32 exact: 9 digits round-trip a float32


def test_onnx_runtime_flag_serves_mnist_on_openvino(serve: Server, shared: Path) -> None:
    model_dir = shared / "seed-models/onnx-mnist"
    url = serve(model_dir, "mnist", "--onnx-runtime", "openvino")
    assert httpx.get(f"{url}/v2/models/mnist").json()["platform"] == "openvino"
    image = np.random.default_rng(8).random((1, 1, 28, 28), dtype=np.float32)
    body = {
        "inputs": [
            {"name": "Input3", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": image.ravel().tolist()}
        ]
    }
    r = httpx.post(f"{url}/v2/models/mnist/versions/1/infer", json=body)
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32)
    want = ort.InferenceSession(str(model_dir / "1/mnist.onnx")).run(None, {"Input3": image})[0].ravel()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_bad_requests_get_400_or_404_naming_the_field(serve: Server, shared: Path) -> None:
    url = serve(shared / "seed-models/onnx-mnist", "mnist")
    infer = f"{url}/v2/models/mnist/infer"

    def post(body: bytes | dict[str, object], path: str = infer) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.post(path, content=body)
        return httpx.post(path, json=body)

    def tensor(**kw: object) -> dict[str, object]:
        t: dict[str, object] = {
            "name": "Input3",
            "shape": [1, 1, 28, 28],
            "datatype": "FP32",
            "data": [0.0] * 784,
        }
        t.update(kw)
        return {"inputs": [t]}

    cases = [
        (b"{not json", 400, "malformed JSON"),
        (b"", 400, "body"),
        ({"inputs": []}, 400, "inputs"),
        (tensor(datatype="INT64", data=[0] * 784), 400, "datatype"),
        (tensor(datatype="NOPE"), 400, "datatype"),
        (tensor(shape=[1, 784]), 400, "shape"),
        (tensor(data=[0.0] * 10), 400, "do not fill shape"),
        (tensor(name="other"), 400, "other"),
        (tensor(data=["a"] * 784), 400, "data"),
        ({"inputs": [{"name": "Input3"}]}, 400, "shape"),
        (tensor(shape=[True, 1, 28, 28]), 400, "shape"),
        (tensor(shape=[2**40, 2**40, 2**40, 1]), 400, "does not match the model's [1, 1, 28, 28]"),
    ]
    for body, status, words in cases:
        r = post(body)
        assert r.status_code == status, (body if isinstance(body, bytes) else str(body)[:80], r.text)
        assert words in r.json()["error"], r.text
    assert post(tensor(), f"{url}/v2/models/nope/infer").status_code == 404
    assert post(tensor(), f"{url}/v2/models/mnist/versions/9/infer").status_code == 404
    assert httpx.get(f"{url}/v1/models/nope").status_code == 404
    assert httpx.get(f"{url}/no/such/path").status_code == 404
    r = httpx.post(f"{url}/v1/models/mnist:predict", json={"rows": []})
    assert r.status_code == 400 and "instances" in r.json()["error"]


def test_a_model_that_fails_to_load_leaves_the_server_up_and_says_why(serve: Server, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.onnx").write_bytes(b"this is not an onnx model")
    url = serve(broken, "broken", ready=False)
    r = httpx.get(f"{url}/v2/models/broken/ready")
    for _ in range(100):
        if "reason" in r.json():
            break
        r = httpx.get(f"{url}/v2/models/broken/ready")
    assert r.status_code == 503
    assert "onnxruntime cannot load it" in r.json()["reason"]
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    assert httpx.get(f"{url}/v2/health/ready").status_code == 503
    infer = httpx.post(f"{url}/v2/models/broken/infer", json={"inputs": []})
    assert infer.status_code == 503 and "failed" in infer.json()["error"]


def test_unknown_format_is_one_line_error(tmp_path: Path) -> None:
    import subprocess

    from tests.support import aiedge_cmd

    (tmp_path / "notes.txt").write_text("hello")
    r = subprocess.run(
        aiedge_cmd("serve", str(tmp_path), "--name", "x"), capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 1
    assert r.stderr.strip().startswith("error: ") and "no model found" in r.stderr and "notes.txt" in r.stderr
    assert "Traceback" not in r.stderr


def _serve_fails(*args: str, env: dict[str, str] | None = None) -> str:
    """Run `aiedge serve ARGS` that must fail: exit 1, one line on stderr, nothing loaded; the line."""
    import os
    import subprocess

    from tests.support import aiedge_cmd

    r = subprocess.run(
        aiedge_cmd("serve", *args),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    lines = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()]
    assert r.returncode == 1, (r.returncode, lines)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_ports_out_of_range_or_in_use_are_one_line_before_any_model_loads(shared: Path) -> None:
    import socket

    from tests.support import free_port

    model = str(shared / "seed-models/onnx-mnist")
    line = _serve_fails(model, "--http-port", "99999")
    assert line == "error: --http-port: 99999 is not a port (1-65535)"
    line = _serve_fails(model, "--grpc-port", "70000")
    assert line == "error: --grpc-port: 70000 is not a port (1-65535, or 0 for no gRPC)"
    line = _serve_fails(model, env={"AIEDGE_SERVE_HTTP_PORT": "-1"})
    assert line.startswith("error: AIEDGE_SERVE_HTTP_PORT: ") and "-1" in line, line
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _serve_fails(model, "--http-port", str(port), "--grpc-port", str(free_port()))
        assert line == f"error: cannot listen on 127.0.0.1:{port} (HTTP): address already in use"
        line = _serve_fails(model, "--http-port", str(free_port()), "--grpc-port", str(port))
        assert line == f"error: cannot listen on 127.0.0.1:{port} (gRPC): address already in use"
    line = _serve_fails(model, "--host", "192.0.2.1", "--http-port", str(free_port()))
    assert line.startswith("error: cannot listen on 192.0.2.1:") and "not an address of this machine" in line
