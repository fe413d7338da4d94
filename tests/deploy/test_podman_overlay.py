"""deploy/kubernetes/overlays/podman renders with `kubectl kustomize` and passes strict schema
validation: one hub Deployment whose pod holds the hub, git-sync and PostgreSQL (the database at
127.0.0.1), aiedge's own images, host folders for the repo and TLS, no Secret objects (podman
secrets instead); `aiedge base service` and `--package` refuse bad names in one line. The overlay
running under podman is tests/containers/test_core_podman.py."""

from __future__ import annotations

import subprocess

from tests.gitops.kube import by_kind, kustomize, validate
from tests.support import REPO_ROOT, aiedge_cmd

OVERLAY = REPO_ROOT / "deploy" / "kubernetes" / "overlays" / "podman"


def test_podman_overlay_renders_one_pod_with_the_database_beside_the_hub() -> None:
    docs = kustomize(OVERLAY)
    assert validate(docs) >= {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim"}
    assert not by_kind(docs, "Secret")
    (hub,) = by_kind(docs, "Deployment")
    assert hub["spec"]["replicas"] == 1
    spec = hub["spec"]["template"]["spec"]
    images = {c["name"]: c["image"] for c in spec["containers"]}
    assert images == {
        "hub": "localhost/aiedge/hub:latest",
        "git-sync": "localhost/aiedge/git-sync:latest",
        "postgres": "localhost/aiedge/postgres:latest",
    }
    (https,) = next(c for c in spec["containers"] if c["name"] == "hub")["ports"]
    assert https["hostPort"] == 8443
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["tls"] == {"name": "tls", "hostPath": {"path": "/etc/aiedge/hub-tls", "type": "Directory"}}
    assert volumes["gitops-source"]["hostPath"]["path"] == "/srv/aiedge/gitops"
    assert volumes["postgres-data"]["persistentVolumeClaim"]["claimName"] == "aiedge-postgres"
    (config,) = by_kind(docs, "ConfigMap")
    assert config["data"]["repo"] == "file:///srv/gitops"
    assert {d["metadata"]["name"] for d in by_kind(docs, "Service")} == {"aiedge-hub"}


def test_service_image_names_are_checked() -> None:
    for args, says in (
        (("base", "service", "mysql", "--out", "/tmp/never"), "no service image 'mysql'"),
        (("base", "build", "--out", "/tmp/never", "--package", "git;rm"), "not a Debian package name"),
    ):
        done = subprocess.run(aiedge_cmd(*args), capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1, done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr
