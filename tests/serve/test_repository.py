"""The V2 model repository extension: index (with the spec's states and the ``ready`` filter),
unload, load again, and load a model folder that was added to the repository after the server
started; unknown models get 404."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.support import Proc, aiedge_cmd, free_port, wait_http


def test_index_unload_load_and_late_models(shared: Path, tmp_path: Path) -> None:
    repo = tmp_path / "models"
    repo.mkdir()
    shutil.copytree(shared / "seed-models/onnx-mnist", repo / "mnist")
    shutil.copytree(shared / "seed-models/lightgbm-iris", repo / "iris")
    port = free_port()
    proc = Proc(
        aiedge_cmd("serve", str(repo), "--http-port", str(port), "--grpc-port", "0"), tmp_path / "s.log"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/v2/health/ready", timeout=60)
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert {(m["name"], m["version"], m["state"]) for m in index} == {
            ("mnist", "1", "READY"),
            ("iris", "v0.1.0", "READY"),
        }

        assert httpx.post(f"{url}/v2/repository/models/iris/unload").status_code == 200
        assert httpx.get(f"{url}/v2/models/iris/ready").status_code == 503
        index = httpx.post(f"{url}/v2/repository/index").json()
        assert {"name": "iris", "version": "v0.1.0", "state": "UNAVAILABLE", "reason": "unloaded"} in index
        ready = httpx.post(f"{url}/v2/repository/index", json={"ready": True}).json()
        assert [m["name"] for m in ready] == ["mnist"]
        bad = httpx.post(f"{url}/v2/repository/index", json={"ready": "yes"})
        assert bad.status_code == 400 and "ready" in bad.json()["error"]
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [4.9, 3.0, 1.4, 0.2]}]}
        assert httpx.post(f"{url}/v2/models/iris/infer", json=body).status_code == 503
        assert httpx.post(f"{url}/v2/repository/models/iris/load").status_code == 200
        assert httpx.post(f"{url}/v2/models/iris/infer", json=body).status_code == 200

        # a model copied into the repository folder after start is loaded by name
        shutil.copytree(shared / "seed-models/tensorflow-housing/tf2model", repo / "housing")
        assert httpx.get(f"{url}/v2/models/housing").status_code == 404
        assert httpx.post(f"{url}/v2/repository/models/housing/load", timeout=60).status_code == 200
        r = httpx.post(f"{url}/v1/models/housing:predict", json={"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]})
        assert r.json() == {"predictions": [-28.7639923]}
        assert httpx.post(f"{url}/v2/repository/models/nope/load").status_code == 404
        assert httpx.post(f"{url}/v2/repository/models/nope/unload").status_code == 404
    finally:
        proc.stop()
