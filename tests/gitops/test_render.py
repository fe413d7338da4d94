"""Kubernetes rendering for one site: what an Argo CD at an edge cluster applies in the seed's
place. Rendered output goes through `kubectl kustomize` and strict schema validation; after an
import of the seed's tree the names, namespace, labels and selector are the seed's own; nothing
changes between renders of unrelated commits; a model-only image with nothing to serve it is
refused in one line, and runs mounted into aiedge's runtime image with --runtime-image. (Running
the rendered pod under `podman kube play`: tests/containers/test_render_podman.py.)"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from aiedge.gitops import load_repo, read_directory, read_git_head, set_app_image
from aiedge.gitops.jsonschema import kinds_schema
from aiedge.gitops.render import RenderOptions, render_site
from tests.gitops.helpers import git
from tests.gitops.kube import by_kind, kustomize, validate
from tests.support import aiedge_cmd

DIGEST = "sha256:" + "ef" * 32
REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
RUNTIME = "127.0.0.1:5000/aiedge/base@sha256:" + "0b" * 32
SEED_TEST_DATA = "seed-gitops/examples/tekton/aiedge-e2e/test-data/tensorflow-housing-test-data-cm.yaml"


def _write(files: dict[str, str], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
    return out


def test_model_only_image_runs_in_the_runtime_image(repo: Path, tmp_path: Path) -> None:
    assert list(render_site(load_repo(read_git_head(repo)), "site-a")) == ["kustomization.yaml"]
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    files = render_site(
        load_repo(read_git_head(repo)), "site-a", RenderOptions(namespace="models", runtime_image=RUNTIME)
    )
    docs = kustomize(_write(files, tmp_path / "out"))
    assert validate(docs) >= {"Deployment", "Service", "ConfigMap"}
    assert {d["metadata"]["namespace"] for d in docs} == {"models"}
    (dep,) = by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == RUNTIME
    assert container["command"][1:4] == ["serve", "/model-image/models/tensorflow-housing", "--name"]
    assert pod["volumes"] == [
        {"name": "model", "image": {"reference": f"{REPOSITORY}@{DIGEST}", "pullPolicy": "IfNotPresent"}}
    ]
    assert container["livenessProbe"]["httpGet"] == {
        "path": "/v2/health/live",
        "port": 8080,
        "scheme": "HTTP",
    }
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/models/tensorflow-housing/ready"
    assert dep["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "housing"}
    (svc,) = by_kind(docs, "Service")
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("port", 8080), ("metrics", 8082)]
    (monitor,) = by_kind(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    (cm,) = by_kind(docs, "ConfigMap")
    assert cm["data"]["output.json"] == '{"predictions":[-28.7639923]}'


def test_model_only_image_is_refused_in_one_line(repo: Path) -> None:
    set_app_image(repo, "housing", REPOSITORY, DIGEST, "build")
    done = subprocess.run(
        aiedge_cmd("render", "-g", str(repo), "--site", "site-a"), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: App housing: {REPOSITORY}@{DIGEST} holds the model only"), line
    assert "--runtime-image" in line
    done = subprocess.run(
        aiedge_cmd("render", "-g", str(repo), "--site", "site-a", "--runtime-image", "r.example/base:1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "error: --runtime-image r.example/base:1: pin it by digest (REGISTRY/REPO@sha256:...)"
    )


def test_after_import_the_seeds_own_objects(shared: Path, tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    done = subprocess.run(
        aiedge_cmd(
            "import",
            str(shared / "seed-gitops/acm"),
            "--out",
            str(imported),
            "--site",
            "edge-1=poc-near-edge",
            "--test-data",
            f"tensorflow-housing-app={shared / SEED_TEST_DATA}",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    ours = kustomize(_write(render_site(load_repo(read_directory(imported)), "edge-1"), tmp_path / "r1"))
    validate(ours)
    seed = kustomize(shared / "seed-gitops/acm/odh-edge/apps/tensorflow-housing-app")

    def key(docs: list[dict[str, object]], kind: str) -> list[object]:
        out = []
        for d in by_kind(docs, kind):
            meta = d["metadata"]
            assert isinstance(meta, dict)
            if meta["name"].startswith("tensorflow-housing"):
                spec = d.get("spec") or {}
                assert isinstance(spec, dict)
                out.append((meta["name"], meta.get("namespace"), spec.get("selector")))
        return out

    for kind in ("Deployment", "Service", "Route", "Namespace"):
        assert key(ours, kind) == key(seed, kind), kind
    (dep,) = [
        d for d in by_kind(ours, "Deployment") if d["metadata"]["name"] == "tensorflow-housing-app-model-1"
    ]
    (seed_dep,) = by_kind(seed, "Deployment")
    assert dep["spec"]["template"]["metadata"]["labels"] == seed_dep["spec"]["template"]["metadata"]["labels"]
    assert (
        dep["spec"]["template"]["spec"]["containers"][0]["image"]
        == (seed_dep["spec"]["template"]["spec"]["containers"][0]["image"])
    )
    (svc,) = [
        d for d in by_kind(ours, "Service") if d["metadata"]["name"] == "tensorflow-housing-app-model-1"
    ]
    (seed_svc,) = by_kind(seed, "Service")
    assert [p["name"] for p in svc["spec"]["ports"]] == [p["name"] for p in seed_svc["spec"]["ports"]]
    (cron,) = by_kind(ours, "CronJob")
    assert cron["spec"]["schedule"] == "*/5 * * * *"

    # a commit that touches another app changes nothing of this one
    repo = tmp_path / "repo"
    shutil.copytree(imported, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "import")
    first = render_site(load_repo(read_git_head(repo)), "edge-1")
    set_app_image(repo, "bike-rental-app", "quay.io/rhoai-edge/bike-rentals-auto-ml", DIGEST, "new bike")
    second = render_site(load_repo(read_git_head(repo)), "edge-1")
    changed = sorted(n for n in first if first[n] != second[n])
    assert changed == ["bike-rental-app-deployment.yaml", "kustomization.yaml"]


def test_json_schema_covers_the_kinds() -> None:
    schema = kinds_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert {"App", "Site", "Placement", "KubernetesSpec"} <= set(schema["$defs"])
    spec = schema["$defs"]["AppSpec"]
    assert "grpcPort" in spec["properties"] and spec["additionalProperties"] is False
    assert "kubernetes" in spec["properties"]
