"""The seed's TF-Serving clients against real `aiedge serve` processes: OpenVINO's own client
(`ovmsclient`, unchanged) over gRPC and REST gets status, metadata and predictions from the seed's
housing SavedModel (signature read from the model: `[-1, 8]`) and from an OpenVINO IR model, equal
to what OpenVINO gives in f32; version 0 (the client's default) and no version mean the latest;
TF Serving's own stubs (`tensorflow.serving.PredictionService`, `ModelService`) work too, typed
values included; OVMS `--shape auto` reshapes an IR model with a fixed shape, and a shape the
model cannot take is a clear 400; the seed's iris answers at its MLServer name and version."""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import numpy as np
import openvino as ov
import pytest
from ovmsclient import make_grpc_client, make_http_client

from aiedge.serve.grpc.tfs.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2
from aiedge.serve.grpc.tfs.tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from tests.serve.helpers import Server, grpc_address
from tests.serve.models import cnn_model, openvino_ir

HOUSING = "tensorflow-housing"
ROW = np.arange(1, 9, dtype=np.float32).reshape(1, 8)


def _openvino_f32(model: Path, x: np.ndarray) -> np.ndarray:
    core = ov.Core()
    read = core.read_model(str(model))
    read.reshape({0: ov.PartialShape(list(x.shape))})
    compiled = core.compile_model(read, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.asarray(compiled.create_infer_request().infer({0: x})[compiled.outputs[0]])


def test_ovmsclient_grpc_and_rest_on_the_seed_housing_model(serve: Server, shared: Path) -> None:
    url = serve(shared / "seed-models/tensorflow-housing/tf2model", HOUSING)
    for client in (make_grpc_client(grpc_address(url)), make_http_client(url.removeprefix("http://"))):
        assert client.get_model_status(HOUSING) == {
            1: {"state": "AVAILABLE", "error_code": 0, "error_message": ""}
        }
        meta = client.get_model_metadata(HOUSING)
        assert meta["model_version"] == 1
        assert meta["inputs"] == {"x": {"shape": [-1, 8], "dtype": "DT_FLOAT"}}
        assert meta["outputs"] == {"output_0": {"shape": [-1], "dtype": "DT_FLOAT"}}
        np.testing.assert_allclose(client.predict({"x": ROW}, HOUSING), [-28.7639923], rtol=1e-6)
        np.testing.assert_allclose(
            client.predict({"x": ROW}, HOUSING, model_version=1), [-28.7639923], rtol=1e-6
        )
    # TF-Serving REST: version 0 is the latest, as the seed's clients send it
    r = httpx.post(f"{url}/v1/models/{HOUSING}/versions/0:predict", json={"instances": ROW.tolist()})
    assert r.json() == {"predictions": [-28.7639923]}
    assert (
        httpx.get(f"{url}/v1/models/{HOUSING}/versions/0").json()["model_version_status"][0]["version"] == "1"
    )
    # a row of 3 features: the SavedModel's own [-1, 8] says so, before OpenVINO sees it
    bad = httpx.post(f"{url}/v1/models/{HOUSING}:predict", json={"instances": [[1.0, 2.0, 3.0]]})
    assert bad.status_code == 400
    assert bad.json()["error"] == "inputs[x].shape: [1, 3] does not match the model's [-1, 8]"
    v2 = httpx.get(f"{url}/v2/models/{HOUSING}").json()
    assert v2["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 8]}]


def test_ovmsclient_on_an_openvino_ir_model_gets_openvino_f32(serve: Server, tmp_path: Path) -> None:
    cnn_model(tmp_path / "cnn.onnx", seed=5)
    openvino_ir(tmp_path / "cnn.onnx", tmp_path / "cnn/1/model.xml")
    url = serve(tmp_path / "cnn", "cnn")
    x = np.random.default_rng(9).random((3, 1, 28, 28), dtype=np.float32)
    want = _openvino_f32(tmp_path / "cnn/1/model.xml", x)
    grpc_client = make_grpc_client(grpc_address(url))
    np.testing.assert_array_equal(grpc_client.predict({"x": x}, "cnn"), want)  # raw float32 both ways
    rest = make_http_client(url.removeprefix("http://")).predict({"x": x}, "cnn")
    np.testing.assert_allclose(rest, want, rtol=1e-6)  # JSON: 9 significant digits
    assert grpc_client.get_model_metadata("cnn")["inputs"] == {
        "x": {"shape": [-1, 1, 28, 28], "dtype": "DT_FLOAT"}
    }


def test_tf_serving_stubs_typed_values_filters_and_errors(serve: Server, shared: Path) -> None:
    url = serve(shared / "seed-models/tensorflow-housing/tf2model", HOUSING)
    with grpc.insecure_channel(grpc_address(url)) as channel:
        predict = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = HOUSING
        x = request.inputs["x"]
        x.dtype = 1  # DT_FLOAT
        x.tensor_shape.dim.extend([tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in (2, 8)])
        x.float_val.extend(list(range(1, 9)) * 2)
        request.output_filter.append("output_0")
        response = predict.Predict(request, timeout=30)
        out = response.outputs["output_0"]
        assert [d.size for d in out.tensor_shape.dim] == [2] and response.model_spec.version.value == 1
        np.testing.assert_allclose(
            np.frombuffer(out.tensor_content, dtype="<f4"), [-28.7639923] * 2, rtol=1e-6
        )
        # one value fills the shape, as in TensorFlow
        x.ClearField("float_val")
        x.float_val.append(1.0)
        assert (
            len(np.frombuffer(predict.Predict(request, timeout=30).outputs["output_0"].tensor_content, "<f4"))
            == 2
        )
        for change, code, words in [
            (lambda r: r.model_spec.__setattr__("name", "nope"), grpc.StatusCode.NOT_FOUND, "nope"),
            (lambda r: r.model_spec.version.__setattr__("value", 7), grpc.StatusCode.NOT_FOUND, "'7'"),
            (
                lambda r: r.inputs["x"].tensor_shape.dim[1].__setattr__("size", 3),
                grpc.StatusCode.INVALID_ARGUMENT,
                "[-1, 8]",
            ),
            (lambda r: r.output_filter.append("nope"), grpc.StatusCode.INVALID_ARGUMENT, "output_filter"),
        ]:
            broken = predict_pb2.PredictRequest()
            broken.CopyFrom(request)
            change(broken)
            with pytest.raises(grpc.RpcError) as e:
                predict.Predict(broken, timeout=30)
            assert e.value.code() == code and words in (e.value.details() or ""), e.value.details()
        meta_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        meta_request.model_spec.name = HOUSING
        meta = predict.GetModelMetadata(meta_request, timeout=30)
        sdmap = get_model_metadata_pb2.SignatureDefMap()
        meta.metadata["signature_def"].Unpack(sdmap)
        info = sdmap.signature_def["serving_default"].inputs["x"]
        assert [d.size for d in info.tensor_shape.dim] == [-1, 8] and info.dtype == 1
        with pytest.raises(grpc.RpcError) as e:
            predict.Classify(classification_pb2.ClassificationRequest(), timeout=30)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = HOUSING
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=30)
        assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30)]  # AVAILABLE
    assert tensor_pb2.TensorProto  # the generated modules are the ones in the package


def test_shape_auto_reshapes_a_fixed_shape_ir_model(serve: Server, tmp_path: Path) -> None:
    cnn_model(tmp_path / "fixed.onnx", seed=6, batch=1)
    openvino_ir(tmp_path / "fixed.onnx", tmp_path / "fixed/1/model.xml")
    x = np.random.default_rng(2).random((2, 1, 28, 28), dtype=np.float32)

    def body(a: np.ndarray) -> dict[str, object]:
        return {
            "inputs": [{"name": "x", "shape": list(a.shape), "datatype": "FP32", "data": a.ravel().tolist()}]
        }

    fixed = serve(tmp_path / "fixed", "fixed")
    r = httpx.post(f"{fixed}/v2/models/fixed/infer", json=body(x))
    assert r.status_code == 400 and "does not match the model's [1, 1, 28, 28]" in r.json()["error"]
    auto = serve(tmp_path / "fixed", "fixed", "--shape", "auto")
    assert httpx.get(f"{auto}/v2/models/fixed").json()["inputs"][0]["shape"] == [-1, -1, -1, -1]
    r = httpx.post(f"{auto}/v2/models/fixed/infer", json=body(x))
    assert r.status_code == 200, r.text
    got = np.asarray(r.json()["outputs"][0]["data"], dtype=np.float32).reshape(2, 10)
    np.testing.assert_allclose(got, _openvino_f32(tmp_path / "fixed/1/model.xml", x), rtol=1e-6)
    r = httpx.post(f"{auto}/v2/models/fixed/infer", json=body(np.zeros((1, 2, 28, 28), dtype=np.float32)))
    assert r.status_code == 400
    assert "the model cannot take input shapes [[1, 2, 28, 28]] (--shape auto)" in r.json()["error"]
    # and the shapes it can take still answer
    assert httpx.post(f"{auto}/v2/models/fixed/infer", json=body(x[:1])).status_code == 200


def test_the_seed_iris_answers_at_its_mlserver_name_and_version(shared: Path, tmp_path: Path) -> None:
    from tests.support import Proc, aiedge_cmd, free_port, wait_http

    port = free_port()
    model = str(shared / "seed-models/lightgbm-iris")
    proc = Proc(aiedge_cmd("serve", model, "--http-port", str(port), "--grpc-port", "0"), tmp_path / "s.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/models/iris/ready", timeout=90)
        # the seed's own request
        r = httpx.post(
            f"{url}/v2/models/iris/versions/v0.1.0/infer",
            json={
                "inputs": [
                    {
                        "name": "predict-prob",
                        "shape": [1, 4],
                        "datatype": "FP32",
                        "data": [[4.9, 3.0, 1.4, 0.2]],
                    }
                ]
            },
        )
        assert r.status_code == 200, r.text
        assert int(np.argmax(r.json()["outputs"][0]["data"])) == 0
    finally:
        proc.stop()
