"""`aiedge import` of the seed's own ACM/kustomize tree (../shared/seed-gitops/acm): Apps with the
seed's images, names and selectors, Placements from its ApplicationSets and ACM Placements, Sites
from --site; every seed file and object in the report (mapped or not, with why); the output passes
`aiedge validate` and a real hub serves it. Bad input fails in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
from ruamel.yaml import YAML

from tests.gitops.helpers import git
from tests.hub.helpers import StartHub
from tests.support import aiedge_cmd

HOUSING_DIGEST = "sha256:8486af7728e1214ac5f81c6b93d560078d357f2096d1b40c38a9ac8e1cd68767"
TEST_DATA = "seed-gitops/examples/tekton/aiedge-e2e/test-data/tensorflow-housing-test-data-cm.yaml"


def _import(shared: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd(
            "import",
            str(shared / "seed-gitops" / "acm"),
            "--out",
            str(out),
            "--site",
            "edge-1=poc-near-edge",
            "--test-data",
            f"tensorflow-housing-app={shared / TEST_DATA}",
            *extra,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_import_the_seed_tree(shared: Path, tmp_path: Path, start_hub: StartHub) -> None:
    out = tmp_path / "imported"
    done = _import(shared, out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.yaml")) == [
        "apps/bike-rental-app.yaml",
        "apps/tensorflow-housing-app.yaml",
        "placements/bike-rental-app-placement.yaml",
        "placements/tensorflow-housing-app-placement.yaml",
        "sites/edge-1.yaml",
    ]
    yaml = YAML(typ="safe", pure=True)
    app = yaml.load((out / "apps/tensorflow-housing-app.yaml").read_text())
    spec = app["spec"]
    assert spec["image"] == {"repository": "quay.io/rhoai-edge/tensorflow-housing", "digest": HOUSING_DIGEST}
    assert (spec["model"], spec["protocol"], spec["port"]) == ("tensorflow-housing", "tfserving", 8080)
    assert spec["test"]["response"] == {"predictions": [-28.7639923]}
    assert spec["kubernetes"] == {
        "name": "tensorflow-housing-app-model-1",
        "namespace": "tensorflow-housing-app",
        "createNamespace": True,
        "labels": {"app": "tensorflow-housing-app-1", "model-name": "tensorflow-housing"},
        "runnable": True,
        "route": True,
        "smokeSchedule": "*/5 * * * *",
    }
    bike = yaml.load((out / "apps/bike-rental-app.yaml").read_text())["spec"]
    assert (bike["model"], bike["protocol"]) == ("bike-rentals-auto-ml", "mlflow")
    placement = yaml.load((out / "placements/tensorflow-housing-app-placement.yaml").read_text())
    assert placement["spec"] == {
        "siteSelector": {"matchLabels": {"cluster.open-cluster-management.io/clusterset": "poc-near-edge"}},
        "apps": ["tensorflow-housing-app"],
    }
    # the seed's comments travel with the documents made from their files
    text = (out / "apps/tensorflow-housing-app.yaml").read_text()
    assert "# odh-edge/apps/tensorflow-housing-app/housing-inference-generator.yaml: modify this" in text
    assert "Randomly selects" not in text  # a shell script's '#' lines are not YAML comments

    # nothing lost silently: every seed file and every rendered object is in the report
    report = json.loads((out / "IMPORT-REPORT.json").read_text())
    lines = report["mapped"] + report["not_mapped"]
    for kind_name in (
        "MultiClusterObservability/observability",
        "OpenTelemetryCollector/cluster-collector",
        "GitOpsCluster/near-edge-clusters",
        "ManagedClusterSetBinding/poc-near-edge",
        "Secret/thanos-object-storage",
        "CronJob/tensorflow-housing-app-housing-inference-generator",
        "Route/tensorflow-housing-app-model-1",
        "ApplicationSet/otel-edge-collector-appset",
    ):
        assert any(kind_name in line for line in lines), kind_name
    assert "2 apps, 1 site, 2 placements" in _validate(out)

    # a real hub serves it: edge-1 (cluster set poc-near-edge) gets both apps, pinned by digest
    shutil.copytree(out, tmp_path / "repo")
    repo = tmp_path / "repo"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "imported from the seed")
    hub = start_hub(repo, "--insecure-no-auth")
    desired = httpx.get(f"{hub.url}/api/v1/sites/edge-1/desired", timeout=10).json()
    images = {a["name"]: a["image"] for a in desired["apps"]}
    assert images["tensorflow-housing-app"] == f"quay.io/rhoai-edge/tensorflow-housing@{HOUSING_DIGEST}"
    assert set(images) == {"tensorflow-housing-app", "bike-rental-app"}
    housing = next(a for a in desired["apps"] if a["name"] == "tensorflow-housing-app")
    assert housing["smoke_test"]["path"] == "/v1/models/tensorflow-housing/versions/1:predict"


def _validate(out: Path) -> str:
    done = subprocess.run(
        aiedge_cmd("validate", "-g", str(out)), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bad_input_is_one_line(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = _import(shared, out)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"error: {out} is not empty: import into a new folder"]
    done = _import(shared, tmp_path / "y", "--test-data", "nosuch-app=" + str(shared / TEST_DATA))
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"error: --test-data for nosuch-app: no such app in {shared / 'seed-gitops/acm'}"
    )
    broken = tmp_path / "broken" / "apps" / "a"
    broken.mkdir(parents=True)
    (broken / "kustomization.yaml").write_text("resources:\n  - ../../../../etc\n")
    done = subprocess.run(
        aiedge_cmd("import", str(tmp_path / "broken")), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: apps/a: kubectl kustomize failed:"), line
