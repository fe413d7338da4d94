"""deploy/kubernetes: the hub's manifests (base + openshift and kubernetes overlays) render with
`kubectl kustomize` once the overlay's secret files exist, pass strict schema validation, run
several hub replicas on one PostgreSQL behind one Service, keep the database password out of the
command line, and serve HTTPS from the TLS Secret."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.gitops.kube import by_kind, kustomize, validate
from tests.support import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy" / "kubernetes"


def _overlay(tmp_path: Path, name: str) -> Path:
    tree = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY, tree)
    folder = tree / "overlays" / name
    (folder / "db.env").write_text(
        "password=s3cret\ndatabase-url=postgresql://aiedge:s3cret@aiedge-postgres/aiedge\n"
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=hub.example.com",
            "-keyout",
            str(folder / "tls.key"),
            "-out",
            str(folder / "tls.crt"),
        ],
        check=True,
        capture_output=True,
    )
    return folder


@pytest.mark.parametrize(("overlay", "edge"), [("openshift", "Route"), ("kubernetes", "Ingress")])
def test_hub_manifests_render_and_validate(tmp_path: Path, overlay: str, edge: str) -> None:
    docs = kustomize(_overlay(tmp_path, overlay))
    assert validate(docs) >= {"Deployment", "Service", "Secret", "ConfigMap", "PersistentVolumeClaim"}
    assert {d["metadata"].get("namespace", "aiedge") for d in docs} == {"aiedge"}
    (edge_doc,) = by_kind(docs, edge)
    assert edge_doc["metadata"]["name"] == "aiedge-hub"
    hub, postgres = sorted(by_kind(docs, "Deployment"), key=lambda d: d["metadata"]["name"])
    assert hub["metadata"]["name"] == "aiedge-hub" and hub["spec"]["replicas"] >= 2
    assert postgres["spec"]["replicas"] == 1
    pod = hub["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "hub")
    env = {e["name"]: e for e in container["env"]}
    assert env["AIEDGE_HUB_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "aiedge-hub-db",
        "key": "database-url",
    }
    assert "s3cret" not in " ".join(container["command"])
    assert env["AIEDGE_HUB_TLS_CERT"]["value"].startswith("/etc/aiedge/tls/")
    secrets = {s["metadata"]["name"]: s for s in by_kind(docs, "Secret")}
    assert secrets["aiedge-hub-tls"]["type"] == "kubernetes.io/tls"
    assert {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v} == {"aiedge-hub-tls"}
    assert any(c["name"] == "git-sync" for c in pod["containers"])
    (svc,) = [s for s in by_kind(docs, "Service") if s["metadata"]["name"] == "aiedge-hub"]
    assert svc["spec"]["selector"] == hub["spec"]["selector"]["matchLabels"]


def test_secret_files_are_never_committed() -> None:
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert {"db.env", "tls.crt", "tls.key"} <= set(ignored)
