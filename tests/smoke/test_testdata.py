"""load_test_data(): the seed's ConfigMaps, plain JSON, protocol paths, file:line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.smoke.errors import SmokeTestError
from aiedge.smoke.testdata import default_path, load_test_data, protocol_of

SEED_TD = Path("seed-gitops/examples/tekton/aiedge-e2e/test-data")


def test_seed_housing_configmap(shared: Path) -> None:
    smoke = load_test_data(
        shared / SEED_TD / "tensorflow-housing-test-data-cm.yaml", model="tensorflow-housing"
    )
    assert smoke.path == "/v1/models/tensorflow-housing/versions/1:predict"
    assert smoke.request == {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}
    assert smoke.response == {"predictions": [-28.7639923]}


def test_seed_bike_rentals_configmap_is_mlflow(shared: Path) -> None:
    smoke = load_test_data(shared / SEED_TD / "bike-rentals-test-data-cm.yaml", model="bikes")
    assert smoke.path == "/invocations" and smoke.response == {"predictions": [331]}


def test_plain_json_with_options(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    f.write_text(
        '{"request": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]},'
        ' "response": {"outputs": []}, "rtol": 0.01}'
    )
    smoke = load_test_data(f, model="m")
    assert (smoke.path, smoke.rtol) == ("/v2/models/m/infer", 0.01)
    assert load_test_data(f, model="m", protocol="tfserving").path == "/v1/models/m/versions/1:predict"


def test_paths_and_protocols() -> None:
    assert default_path("mlflow", "m") == "/invocations"
    assert protocol_of({"instances": []}) == "tfserving" and protocol_of({"dataframe_split": {}}) == "mlflow"
    with pytest.raises(SmokeTestError, match="grpc"):
        default_path("grpc", "m")


def test_errors_name_file_and_line(tmp_path: Path) -> None:
    cm = tmp_path / "cm.yaml"
    cm.write_text("kind: ConfigMap\ndata:\n  data.json: '{\"instances\": [1'\n  output.json: '{}'\n")
    with pytest.raises(SmokeTestError, match=rf"{cm}:3: data.data.json is not JSON"):
        load_test_data(cm, model="m")
    bad = tmp_path / "bad.json"
    bad.write_text('{\n "request": 1,\n')
    with pytest.raises(SmokeTestError, match=rf"{bad}:3: not JSON"):
        load_test_data(bad, model="m")
    neg = tmp_path / "neg.yaml"
    neg.write_text("request: {instances: [1]}\nresponse: {}\natol: -1\n")
    with pytest.raises(SmokeTestError, match=rf"{neg}:3: atol must be"):
        load_test_data(neg, model="m")
    other = tmp_path / "other.json"
    other.write_text('{"data": [[1, 2]]}')
    with pytest.raises(SmokeTestError, match=r"needs a request and an expected response.*found data"):
        load_test_data(other, model="m")
    with pytest.raises(SmokeTestError, match="cannot read"):
        load_test_data(tmp_path / "missing.json", model="m")
