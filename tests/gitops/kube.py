"""Checking rendered Kubernetes manifests without a cluster: `kubectl kustomize` (kustomize v5 in
kubectl) and schema validation against current Kubernetes schemas (`kubernetes-validate`, offline,
strict: unknown fields are errors). CRD kinds (Route, ServiceMonitor) have no bundled schema."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

K8S_VERSION = "1.33.0"
CRD_KINDS = {"Route", "ServiceMonitor"}


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize FOLDER` as documents; fails the test with kubectl's message."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {folder}: {done.stderr.strip()}", pytrace=False)
    return [d for d in YAML(typ="safe", pure=True).load_all(done.stdout) if d]


def validate(docs: list[dict[str, Any]]) -> set[str]:
    """Validate every document against the Kubernetes schemas; returns the kinds checked."""
    checked: set[str] = set()
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {e}", pytrace=False)
        checked.add(doc["kind"])
    return checked


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]
