"""Tabular models through real `aiedge serve` processes: the seed's LightGBM iris in MLServer's
layout (model-settings.json, version v0.1.0), an MLflow scikit-learn model over the MLflow
scoring protocol (dataframe_split in any column order, dataframe_records, instances, CSV),
and the seed's model folder served as one repository of three models."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import joblib
import lightgbm
import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingRegressor

from tests.serve.conftest import Server
from tests.support import Proc, aiedge_cmd, free_port, wait_http

BIKE_COLUMNS = [
    "day",
    "mnth",
    "year",
    "season",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "hum",
    "windspeed",
]


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
    rng = np.random.default_rng(3)
    x = rng.random((300, len(BIKE_COLUMNS))) * 10
    y = x @ rng.random(len(BIKE_COLUMNS)) * 20
    est = GradientBoostingRegressor(n_estimators=30, random_state=0).fit(x, y)
    d = tmp_path / "bike-rentals"
    d.mkdir()
    joblib.dump(est, d / "model.pkl")
    signature = json.dumps([{"type": "double", "name": c, "required": True} for c in BIKE_COLUMNS])
    (d / "MLmodel").write_text(
        "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        f'signature:\n  inputs: \'{signature}\'\n  outputs: \'[{{"type": "tensor", "tensor-spec": '
        '{"dtype": "float64", "shape": [-1]}}]\'\n'
    )
    return d, est, x[:3]


def test_mlflow_sklearn_model_answers_the_scoring_protocol(
    serve: Server, mlflow_sklearn: tuple[Path, GradientBoostingRegressor, np.ndarray]
) -> None:
    model_dir, est, rows = mlflow_sklearn
    url = serve(model_dir, "bike-rentals")
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
        for name in ("lightgbm-iris", "onnx-mnist", "tensorflow-housing"):
            assert httpx.get(f"{url}/v2/models/{name}/ready").status_code == 200
        r = httpx.post(
            f"{url}/v1/models/tensorflow-housing/versions/1:predict",
            json={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]},
        )
        assert r.json() == {"predictions": [-28.7639923]}
        assert httpx.post(f"{url}/invocations", json={"instances": [[1] * 8]}).status_code == 404
    finally:
        proc.stop()
