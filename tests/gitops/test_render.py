"""Kubernetes rendering for one site (Deployment with the seed's probes, Service, kustomization)
and the published JSON Schema of the kinds."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from aiedge.gitops import load_repo, read_git_head, set_app_image
from aiedge.gitops.jsonschema import kinds_schema
from aiedge.gitops.render import render_site

DIGEST = "sha256:" + "ef" * 32
REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"


def test_render_pins_digest_with_seed_probes(repo: Path) -> None:
    assert list(render_site(load_repo(read_git_head(repo)), "site-a")) == ["kustomization.yaml"]
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    files = render_site(load_repo(read_git_head(repo)), "site-a", namespace="models")
    yaml = YAML(typ="safe", pure=True)
    kust = yaml.load(files["kustomization.yaml"])
    assert kust["namespace"] == "models"
    assert kust["resources"] == ["housing-deployment.yaml", "housing-service.yaml"]
    dep = yaml.load(files["housing-deployment.yaml"])
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{REPOSITORY}@{DIGEST}"
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/v2/health/live",
        "port": 8080,
        "scheme": "HTTP",
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/tensorflow-housing/ready"
    assert dep["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "housing"}
    svc = yaml.load(files["housing-service.yaml"])
    assert svc["spec"]["ports"][0]["port"] == 8080 and svc["spec"]["type"] == "ClusterIP"


def test_json_schema_covers_the_kinds() -> None:
    schema = kinds_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"App", "Site", "Placement"} <= set(schema["$defs"])
    spec = schema["$defs"]["AppSpec"]
    assert "grpcPort" in spec["properties"] and spec["additionalProperties"] is False
