"""`aiedge build models:/NAME@ALIAS` and `models:/NAME/VERSION` against a real `mlflow server` on
loopback (SQLite backend, artifacts proxied by the server), the models registered with MLflow's
own client: the version resolved, its artifacts downloaded and packed, the pushed image written
back onto the version as tags; unknown versions, aliases and a missing registry are one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.helpers import build, last_json
from tests.support import Proc, free_port, wait_http

REGISTER = """
import sys, mlflow
from mlflow import MlflowClient
mlflow.set_tracking_uri(sys.argv[1])
client = MlflowClient()
name, alias = sys.argv[2], sys.argv[3]
client.create_registered_model(name)
versions = []
for folder in sys.argv[4:]:
    with mlflow.start_run() as run:
        mlflow.log_artifacts(folder, artifact_path="model")
    mv = client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    versions.append(mv.version)
client.set_registered_model_alias(name, alias, versions[0])
print(" ".join(versions))
"""


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    proc = Proc(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
        ],
        root / "mlflow.log",
        cwd=root,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


def register(uri: str, name: str, alias: str, *folders: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", REGISTER, uri, name, alias, *map(str, folders)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1].split()  # MLflow prints its run links before


def version_tags(uri: str, name: str, version: str) -> dict[str, str]:
    r = httpx.get(f"{uri}/api/2.0/mlflow/model-versions/get", params={"name": name, "version": version})
    r.raise_for_status()
    return {t["key"]: t["value"] for t in r.json()["model_version"].get("tags", [])}


def test_builds_a_registered_version_by_alias_and_tags_it(
    shared: Path, registry: str, mlflow_server: str, tmp_path: Path
) -> None:
    housing = shared / "seed-models" / "tensorflow-housing" / "tf2model"
    mnist = shared / "seed-models" / "onnx-mnist"
    first, second = register(mlflow_server, "seed2", "champion", mnist, housing)
    image = f"{registry}/registry/seed2:1"
    done = build("models:/seed2@champion", "--mlflow-uri", mlflow_server, "--name", "seed2",
                 "--image", image, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = last_json(done.stdout)
    assert f"models:/seed2@champion is models:/seed2/{first}" in done.stderr
    tags = version_tags(mlflow_server, "seed2", first)
    assert tags == {"aiedge.image": result["image"], "aiedge.digest": result["digest"]}
    assert version_tags(mlflow_server, "seed2", second) == {}

    labels = _labels(registry, "registry/seed2", result["digest"])
    assert labels["org.opencontainers.image.source"] == f"models:/seed2/{first}"

    # by number, with the tracking URI from MLflow's own variable
    by_number = build(f"models:/seed2/{second}", "--name", "tensorflow-housing",
                      "--image", f"{registry}/registry/seed2:2", "--json",
                      env={"MLFLOW_TRACKING_URI": mlflow_server})  # fmt: skip
    assert by_number.returncode == 0, by_number.stderr
    assert "tf-savedmodel" in by_number.stderr
    assert (
        version_tags(mlflow_server, "seed2", second)["aiedge.digest"] == last_json(by_number.stdout)["digest"]
    )


def _labels(registry: str, repository: str, digest: str) -> dict[str, str]:
    from tests.builder.helpers import pull

    _, config = pull(registry, repository, digest)
    return dict(config["config"]["Labels"])


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("models:/nobody/1", "version 1 of model nobody: HTTP 404"),
        ("models:/nobody@champion", "alias champion of model nobody: HTTP 404"),
        ("models:/seed2", "expected models:/NAME/VERSION or models:/NAME@ALIAS"),
        ("models:/seed2/one", "expected models:/NAME/VERSION or models:/NAME@ALIAS"),
    ],
)
def test_bad_registry_sources_are_one_line(registry: str, mlflow_server: str, spec: str, says: str) -> None:
    done = build(spec, "--mlflow-uri", mlflow_server, "--name", "m", "--image", f"{registry}/registry/bad:1")
    assert done.returncode == 1, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_registry_source_needs_the_registry(registry: str) -> None:
    done = build("models:/seed2/1", "--name", "m", "--image", f"{registry}/registry/bad:1",
                 env={"MLFLOW_TRACKING_URI": ""})  # fmt: skip
    assert done.returncode == 1
    assert "give --mlflow-uri URL (or set MLFLOW_TRACKING_URI)" in done.stderr
    assert done.stdout == ""
