"""Kubernetes manifests for one site, for sites that run Argo CD or Flux instead of the agent:
per app a Deployment (image pinned by digest, probes on ``/v2/health/live`` and
``/v2/models/MODEL/ready``) and a Service, plus a ``kustomization.yaml`` listing them, in the
shape of the seed's ``acm/odh-edge/base``."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML

from aiedge.contracts import DesiredApp
from aiedge.gitops.desired import desired_for_site
from aiedge.gitops.loader import GitopsRepo


def _probe(path: str, port: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 8,
    }


def deployment(app: DesiredApp, site: str, revision: str) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": app.name, "app.kubernetes.io/part-of": "aiedge"}
    ports = [{"name": "http", "containerPort": app.port, "protocol": "TCP"}]
    if app.grpc_port:
        ports.append({"name": "grpc", "containerPort": app.grpc_port, "protocol": "TCP"})
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": app.name,
            "labels": labels,
            "annotations": {"aiedge.io/site": site, "aiedge.io/revision": revision},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": app.name}},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "model",
                            "image": app.image,
                            "imagePullPolicy": "IfNotPresent",
                            "ports": ports,
                            "livenessProbe": _probe("/v2/health/live", app.port),
                            "readinessProbe": _probe(f"/v2/models/{app.model}/ready", app.port),
                        }
                    ]
                },
            },
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        },
    }


def service(app: DesiredApp) -> dict[str, Any]:
    ports = [{"name": "http", "protocol": "TCP", "port": app.port, "targetPort": app.port}]
    if app.grpc_port:
        ports.append({"name": "grpc", "protocol": "TCP", "port": app.grpc_port, "targetPort": app.grpc_port})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": app.name, "labels": {"app.kubernetes.io/name": app.name}},
        "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": app.name}, "ports": ports},
    }


def _dump(doc: dict[str, Any]) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def render_site(repo: GitopsRepo, site: str, namespace: str | None = None) -> dict[str, str]:
    """File name -> YAML text: ``<app>-deployment.yaml``, ``<app>-service.yaml`` per deployed app
    and ``kustomization.yaml``. Apps awaiting their first build are left out."""
    state = desired_for_site(repo, site)
    files: dict[str, str] = {}
    for app in state.apps:
        files[f"{app.name}-deployment.yaml"] = _dump(deployment(app, site, state.revision))
        files[f"{app.name}-service.yaml"] = _dump(service(app))
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if namespace:
        kustomization["namespace"] = namespace
    kustomization["resources"] = sorted(files)
    files["kustomization.yaml"] = _dump(kustomization)
    return files
