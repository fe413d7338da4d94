"""Fuzzing `aiedge serve`'s REST API with schemathesis, from its OpenAPI document
(src/aiedge/serve/rest/openapi.yaml: the Open Inference Protocol's data plane plus TF-Serving
and MLflow): whatever the body, the server never answers 5xx (503 for a full queue aside)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from ruamel.yaml import YAML

import aiedge.serve.rest
from tests.support import Proc, aiedge_cmd, free_port, shared_dir, wait_http

OPENAPI = Path(aiedge.serve.rest.__file__).parent / "openapi.yaml"


def _schema_for(model: str) -> dict[str, Any]:
    """The document with the model path parameter pinned to the served model (and one wrong name),
    so the fuzzer reaches inference instead of only 404s."""
    doc: dict[str, Any] = YAML(typ="safe").load(OPENAPI.read_text())
    doc["components"]["parameters"]["model"]["schema"] = {"type": "string", "enum": [model, "no-such-model"]}
    doc["components"]["parameters"]["version"]["schema"] = {"type": "string", "enum": ["1", "2"]}
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "serve",
            str(shared_dir() / "seed-models/tensorflow-housing/tf2model"),
            "--name",
            "housing",
            "--http-port",
            str(port),
            "--grpc-port",
            "0",
        ),
        tmp_path_factory.mktemp("fuzz") / "serve.log",
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/v2/models/housing/ready", timeout=60)
    yield url
    proc.stop()


schema = schemathesis.openapi.from_dict(_schema_for("housing"))


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case: schemathesis.Case, server: str) -> None:
    response = case.call(base_url=server, timeout=30)
    assert response.status_code < 500 or response.status_code == 503, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    if response.status_code == 503:
        assert "error" in response.json() or case.formatted_path.endswith("ready")
