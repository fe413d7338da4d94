"""Pickled scikit-learn models at build time, through the real `aiedge build` against a real
registry: refused before anything is unpickled unless --allow-pickle; with it, the image holds
the checked ONNX export (MLmodel + model.onnx, the check recorded in its labels) and no pickle,
and `aiedge serve` answers from it without --allow-pickle, as the estimator does."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import numpy as np

from aiedge.builder.convert import CONVERSION_LABEL, CONVERTED_LABEL
from aiedge.oci.image import MODEL_FORMAT_LABEL, unpack_layers
from tests.builder.helpers import blob, pull
from tests.sklearn_models import BIKE_COLUMNS, write_mlflow_sklearn, write_pickle_that_runs
from tests.support import Proc, aiedge_cmd, free_port, wait_http


def _build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("build", *args),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"},
        check=False,
    )


def test_a_pickle_is_refused_before_it_is_opened(registry: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    model = tmp_path / "model.joblib"
    write_pickle_that_runs(model, marker)
    r = _build(str(model), "--name", "m", "--image", f"{registry}/aiedge/pickle:1")
    assert r.returncode == 1 and r.stdout == "" and "Traceback" not in r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {model}: a pickled scikit-learn model; loading a pickle runs any code")
    assert "Give --allow-pickle if you trust it" in last
    assert not marker.exists()


def test_the_image_carries_the_onnx_export_and_no_pickle(registry: str, tmp_path: Path) -> None:
    src = tmp_path / "bike-rentals"
    est, rows = write_mlflow_sklearn(src)
    want = est.predict(rows)
    td = tmp_path / "td.json"
    request = {"dataframe_split": {"columns": BIKE_COLUMNS, "data": rows.tolist()}}
    td.write_text(json.dumps({"request": request, "response": {"predictions": want.tolist()}, "rtol": 1e-4}))
    r = _build(str(src), "--name", "bike-rentals", "--image", f"{registry}/aiedge/bike:1",
               "--allow-pickle", "--test-data", str(td), "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "exported the scikit-learn model to ONNX, checked on 64 rows" in r.stderr
    assert "smoke test passed" in r.stderr
    digest = json.loads(r.stdout.strip().splitlines()[-1])["digest"]
    manifest, config = pull(registry, "aiedge/bike", digest)
    labels = config["config"]["Labels"]
    assert labels[MODEL_FORMAT_LABEL] == "sklearn-onnx" and labels[CONVERTED_LABEL] == "sklearn"
    check = json.loads(labels[CONVERSION_LABEL])
    assert check["estimator"] == "GradientBoostingRegressor" and check["check"]["rows"] == 64
    assert 0 <= check["check"]["max_abs_diff"] < 1e-3
    layers = []
    for i, layer in enumerate(manifest["layers"]):
        (tmp_path / f"layer{i}").write_bytes(blob(registry, "aiedge/bike", layer["digest"]))
        layers.append(tmp_path / f"layer{i}")
    unpack_layers(layers, tmp_path / "root")
    model = tmp_path / "root" / "models" / "bike-rentals"
    assert sorted(p.name for p in model.iterdir()) == ["MLmodel", "model.onnx"]
    # a site serves it without --allow-pickle, with the interface the pickle had
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve", str(model), "--name", "bike-rentals", "--http-port", str(port), "--grpc-port", "0"
        ),
        tmp_path / "serve.log",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/v2/models/bike-rentals/ready", timeout=90)
        meta = httpx.get(f"{url}/v2/models/bike-rentals").json()
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, len(BIKE_COLUMNS)]}]
        answer = httpx.post(f"{url}/invocations", json=request)
        assert answer.status_code == 200, answer.text
        np.testing.assert_allclose(answer.json()["predictions"], want, rtol=1e-5, atol=1e-4)
    finally:
        proc.stop()
