"""Tabular models through real `aiedge serve` processes: the seed's LightGBM iris in MLServer's
layout (model-settings.json, version v0.1.0), an MLflow scikit-learn model over the MLflow
scoring protocol (dataframe_split in any column order, dataframe_records, instances, CSV),
pickles refused before they are opened unless --allow-pickle (a pickle that runs a command
proves why), descriptors that point out of their folder refused, and the seed's model folder
served as one repository of three models."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import lightgbm
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from tests.serve.helpers import Server
from tests.sklearn_models import BIKE_COLUMNS, write_mlflow_sklearn, write_pickle_that_runs
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def test_seed_iris_lightgbm_in_mlserver_layout(serve: Server, shared: Path) -> None:
    model_dir = shared / "seed-models/lightgbm-iris"
    url = serve(model_dir, "iris")
    meta = httpx.get(f"{url}/v2/models/iris").json()
    assert meta["versions"] == ["v0.1.0"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    r = httpx.post(
        f"{url}/v2/models/iris/versions/v0.1.0/infer",
        json={
            "inputs": [
                {"name": "predict-prob", "shape": [1, 4], "datatype": "FP32", "data": [[4.9, 3.0, 1.4, 0.2]]}
            ]
        },
    )
    assert r.status_code == 200, r.text
    out = r.json()["outputs"][0]
    assert out["shape"] == [1, 3]
    booster = lightgbm.Booster(model_file=str(model_dir / "iris-lightgbm.bst"))
    want = booster.predict(np.asarray([[4.9, 3.0, 1.4, 0.2]], dtype=np.float32)).ravel()
    np.testing.assert_allclose(out["data"], want, rtol=0, atol=1e-6)
    assert int(np.argmax(out["data"])) == 0  # setosa
    bad = httpx.post(
        f"{url}/v2/models/iris/infer",
        json={"inputs": [{"name": "predict-prob", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]},
    )
    assert bad.status_code == 400 and "shape" in bad.json()["error"]


@pytest.fixture
def mlflow_sklearn(tmp_path: Path) -> tuple[Path, GradientBoostingRegressor, np.ndarray]:
    """An MLflow model directory as `mlflow.sklearn.save_model` writes it (MLmodel + model.pkl)."""
    d = tmp_path / "bike-rentals"
    est, rows = write_mlflow_sklearn(d)
    return d, est, rows


def test_mlflow_sklearn_model_answers_the_scoring_protocol(
    serve: Server, mlflow_sklearn: tuple[Path, GradientBoostingRegressor, np.ndarray]
) -> None:
    model_dir, est, rows = mlflow_sklearn
    url = serve(model_dir, "bike-rentals", "--allow-pickle")
    want = est.predict(rows)
    # the seed's bike-rental test data sends columns in another order than the model's signature
    order = [
        "season",
        "year",
        "mnth",
        "holiday",
        "weekday",
        "workingday",
        "weathersit",
        "temp",
        "hum",
        "windspeed",
        "day",
    ]
    idx = [BIKE_COLUMNS.index(c) for c in order]
    bodies = [
        {"dataframe_split": {"columns": order, "data": rows[:, idx].tolist()}},
        {"dataframe_records": [dict(zip(BIKE_COLUMNS, r, strict=True)) for r in rows.tolist()]},
        {"instances": rows.tolist()},
        {"inputs": rows.tolist()},
    ]
    for body in bodies:
        r = httpx.post(f"{url}/invocations", json=body)
        assert r.status_code == 200, (body, r.text)
        np.testing.assert_allclose(r.json()["predictions"], want, rtol=1e-5, atol=1e-5)
    csv = ",".join(order) + "\n" + "\n".join(",".join(repr(v) for v in r) for r in rows[:, idx].tolist())
    r = httpx.post(f"{url}/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["predictions"], want, rtol=1e-5, atol=1e-5)
    assert httpx.get(f"{url}/ping").status_code == 200
    assert httpx.get(f"{url}/health").status_code == 200
    missing = httpx.post(
        f"{url}/invocations",
        json={"dataframe_split": {"columns": order[:-1], "data": [rows[0, idx[:-1]].tolist()]}},
    )
    assert missing.status_code == 400 and "day" in missing.json()["error"]
    assert httpx.post(f"{url}/invocations", json={"rows": []}).status_code == 400
    assert (
        httpx.post(f"{url}/invocations", content=b"x", headers={"Content-Type": "text/plain"}).status_code
        == 415
    )


def test_the_seed_model_folder_serves_three_models(shared: Path, tmp_path: Path) -> None:
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve", str(shared / "seed-models"), "--http-port", str(port), "--grpc-port", str(free_port())
        ),
        tmp_path / "repo.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/health/ready", timeout=90)
        # the iris folder's model-settings.json names it "iris", as MLServer serves it
        for name in ("iris", "onnx-mnist", "tensorflow-housing"):
            assert httpx.get(f"{url}/v2/models/{name}/ready").status_code == 200
        r = httpx.post(
            f"{url}/v1/models/tensorflow-housing/versions/1:predict",
            json={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]},
        )
        assert r.json() == {"predictions": [-28.7639923]}
        assert httpx.post(f"{url}/invocations", json={"instances": [[1] * 8]}).status_code == 404
    finally:
        proc.stop()


def test_a_pickle_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = tmp_path / "model.joblib"
    write_pickle_that_runs(model, marker)
    cmd = aiedge_cmd("serve", str(model), "--name", "m", "--http-port", str(free_port()), "--grpc-port", "0")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith(
        f"error: {model}: a pickled scikit-learn model; loading a pickle runs any code"
    )
    assert "--allow-pickle" in r.stderr
    assert not marker.exists()  # nothing was unpickled
    # the MLflow sklearn flavour is a pickle too
    mlflow_dir = tmp_path / "mlflow"
    write_mlflow_sklearn(mlflow_dir)
    cmd[cmd.index(str(model))] = str(mlflow_dir)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "model.pkl: a pickled scikit-learn model" in r.stderr
    # with the opt-in the file's code runs, as documented: the reason for the opt-in
    port = free_port()
    proc = Proc(
        aiedge_cmd("serve", str(model), "--name", "m", "--http-port", str(port), "--grpc-port", "0",
                   "--allow-pickle"),
        tmp_path / "allowed.log",
    )  # fmt: skip
    try:
        wait_until(marker.exists, timeout=90, what="the pickle's command")
        wait_http(f"http://127.0.0.1:{port}/v2/health/live", timeout=60)
        assert httpx.get(f"http://127.0.0.1:{port}/v2/models/m/ready").status_code != 200
    finally:
        proc.stop()


def test_a_descriptor_may_not_point_out_of_its_folder(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.onnx"
    outside.write_bytes(b"not read")
    model = tmp_path / "m"
    model.mkdir()
    (model / "MLmodel").write_text("flavors:\n  onnx:\n    data: ../elsewhere.onnx\n")
    cmd = aiedge_cmd("serve", str(model), "--name", "m", "--http-port", str(free_port()), "--grpc-port", "0")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == (
        f"error: {model / 'MLmodel'}: flavors.onnx.data '../elsewhere.onnx' leads out of the model "
        f"folder {model}"
    )
