"""Kubernetes manifests for one site, for edge clusters that run Argo CD or Flux instead of the
agent: what an Argo CD at the seed's edge clusters applied, complete and runnable.

Per app (names and labels from ``spec.kubernetes``, else the App's name; never a revision or a
hash, so a new commit changes only what changed):

- ``Namespace`` (``createNamespace: true``),
- ``Deployment`` whose pod starts: a runnable image (``aiedge build --base``, or the seed's own
  images; ``runnable: true``) runs as it is; a model-only image is mounted read-only into
  aiedge's runtime image (``--runtime-image``) as a Kubernetes image volume. A model-only image
  with nothing to run it is refused. Probes on ``/v2/health/live`` and ``/v2/models/MODEL/ready``,
- ``Service`` with the seed's port names (``port``, and ``metrics`` on 8082, served from the
  HTTP port's ``/metrics``), a ``ServiceMonitor`` for user-workload monitoring,
- ``Route`` (OpenShift, edge TLS) or ``Ingress``,
- the test-data ``ConfigMap`` (``data.json`` request, ``output.json`` expected answer, as the
  seed's) and, with ``smokeSchedule``, a ``CronJob`` that replays it against the Service,

plus a ``kustomization.yaml`` listing them (the GitOps revision in a comment there, not on the
objects). SiteSecrets are not rendered.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from aiedge.contracts import DesiredApp
from aiedge.contracts.serving import serving_env
from aiedge.gitops.desired import desired_for_site
from aiedge.gitops.errors import GitopsError
from aiedge.gitops.loader import GitopsRepo
from aiedge.gitops.schema_kubernetes import KubernetesSpec
from aiedge.gitops.schema_serving import Resources, overridden

METRICS_PORT = 8082
MODEL_MOUNT = "/model-image"
AIEDGE = "/opt/aiedge/bin"
_SMOKE = """\
import json, sys, urllib.request
from aiedge.smoke.compare import compare
url = sys.argv[1]
body = open("/test-data/data.json", "rb").read()
req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as resp:
    answer = json.load(resp)
diffs = compare(json.load(open("/test-data/output.json")), answer, rtol=1e-5, atol=1e-6)
print("\\n".join(diffs) or "smoke test passed: " + url)
sys.exit(1 if diffs else 0)
"""


class RenderRefused(GitopsError):
    """An app cannot be rendered into something that runs."""


@dataclass(frozen=True)
class RenderOptions:
    namespace: str | None = None
    """Set on every object by kustomize (overrides each App's ``spec.kubernetes.namespace``)."""
    runtime_image: str | None = None
    """aiedge's runtime image (``aiedge base build``), pinned by digest: runs model-only images."""
    service_monitor: bool = True
    """Render a ServiceMonitor (needs the Prometheus operator's CRDs, as OpenShift has)."""


@dataclass(frozen=True)
class _Layout:
    name: str
    namespace: str | None
    labels: dict[str, str]
    spec: KubernetesSpec

    def meta(self, name: str | None = None, **extra: Any) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name or self.name}
        if self.namespace:
            meta["namespace"] = self.namespace
        meta["labels"] = {**self.labels, "app.kubernetes.io/part-of": "aiedge"}
        meta.update(extra)
        return meta


def _layout(app: DesiredApp, spec: KubernetesSpec | None) -> _Layout:
    spec = spec or KubernetesSpec()
    name = spec.name or app.name
    return _Layout(name, spec.namespace, dict(spec.labels) or {"app.kubernetes.io/name": name}, spec)


def _probe(path: str, port: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 5,
        "successThreshold": 1,
        "failureThreshold": 8,
    }


def _container(
    app: DesiredApp, lay: _Layout, runtime_image: str | None, resources: Resources | None = None
) -> tuple[dict[str, Any], list[Any]]:
    ports = [{"name": "http", "containerPort": app.port, "protocol": "TCP"}]
    if app.grpc_port:
        ports.append({"name": "grpc", "containerPort": app.grpc_port, "protocol": "TCP"})
    container: dict[str, Any] = {"name": "model", "image": app.image, "imagePullPolicy": "IfNotPresent"}
    volumes: list[Any] = []
    if not lay.spec.runnable:
        if runtime_image is None:
            raise RenderRefused(
                f"App {app.name}: {app.image} holds the model only and nothing in it can serve: build "
                "it on aiedge's runtime image (aiedge build --base) and set spec.kubernetes.runnable: "
                "true, or render with --runtime-image REGISTRY/aiedge/base@sha256:..."
            )
        container["image"] = runtime_image
        container["command"] = [
            f"{AIEDGE}/aiedge",
            "serve",
            f"{MODEL_MOUNT}/models/{app.model}",
            "--name",
            app.model,
            "--host",
            "0.0.0.0",
            "--http-port",
            str(app.port),
            "--grpc-port",
            str(app.grpc_port or 0),
        ]
        container["volumeMounts"] = [{"name": "model", "mountPath": MODEL_MOUNT, "readOnly": True}]
        volumes.append({"name": "model", "image": {"reference": app.image, "pullPolicy": "IfNotPresent"}})
    if env := serving_env(app):
        container["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    if resources is not None and (resources.requests or resources.limits):
        container["resources"] = {
            k: dict(v) for k, v in (("requests", resources.requests), ("limits", resources.limits)) if v
        }
    container["ports"] = ports
    container["livenessProbe"] = _probe("/v2/health/live", app.port)
    container["readinessProbe"] = _probe(f"/v2/models/{app.model}/ready", app.port)
    container["securityContext"] = _restricted()
    return container, volumes


def _restricted() -> dict[str, Any]:
    """OpenShift's restricted-v2 / the pod security "restricted" profile."""
    return {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def deployment(
    app: DesiredApp,
    site: str,
    spec: KubernetesSpec | None = None,
    runtime_image: str | None = None,
    resources: Resources | None = None,
) -> dict[str, Any]:
    lay = _layout(app, spec)
    container, volumes = _container(app, lay, runtime_image, resources)
    pod: dict[str, Any] = {"containers": [container]}
    if volumes:
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": lay.meta(annotations={"aiedge.io/site": site}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(lay.labels)},
            "template": {"metadata": {"labels": dict(lay.labels)}, "spec": pod},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
        },
    }


def service(app: DesiredApp, spec: KubernetesSpec | None = None) -> dict[str, Any]:
    lay = _layout(app, spec)
    ports = [
        {"name": "port", "protocol": "TCP", "port": app.port, "targetPort": app.port},
        # the seed's metrics port; aiedge serves /metrics on its HTTP port
        {"name": "metrics", "protocol": "TCP", "port": METRICS_PORT, "targetPort": app.port},
    ]
    if app.grpc_port:
        ports.append({"name": "grpc", "protocol": "TCP", "port": app.grpc_port, "targetPort": app.grpc_port})
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": lay.meta(),
        "spec": {"type": "ClusterIP", "selector": dict(lay.labels), "ports": ports},
    }


def _extras(app: DesiredApp, lay: _Layout, opts: RenderOptions) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    if lay.spec.create_namespace and lay.namespace and not opts.namespace:
        out["namespace"] = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": lay.namespace, "labels": dict(lay.labels)},
        }
    if lay.spec.route:
        out["route"] = {
            "apiVersion": "route.openshift.io/v1",
            "kind": "Route",
            "metadata": lay.meta(),
            "spec": {
                "to": {"kind": "Service", "name": lay.name, "weight": 100},
                "port": {"targetPort": "port"},
                "tls": {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"},
                "wildcardPolicy": "None",
            },
        }
    if lay.spec.ingress_host:
        backend = {"service": {"name": lay.name, "port": {"name": "port"}}}
        out["ingress"] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": lay.meta(),
            "spec": {
                "rules": [
                    {
                        "host": lay.spec.ingress_host,
                        "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                    }
                ]
            },
        }
    if opts.service_monitor:
        out["servicemonitor"] = {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": lay.meta(),
            "spec": {
                "selector": {"matchLabels": dict(lay.labels)},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
        }
    smoke = app.smoke_test
    if smoke is not None:
        out["test-data"] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": lay.meta(f"{lay.name}-test-data"),
            "data": {
                "data.json": json.dumps(smoke.request, separators=(",", ":")),
                "output.json": json.dumps(smoke.response, separators=(",", ":")),
                "path": smoke.path,
            },
        }
        if lay.spec.smoke_schedule:
            out["smoke"] = _cronjob(app, lay, opts)
    return out


def _cronjob(app: DesiredApp, lay: _Layout, opts: RenderOptions) -> dict[str, Any]:
    assert app.smoke_test is not None
    image = opts.runtime_image or (app.image if lay.spec.runnable else None)
    if image is None:
        raise RenderRefused(
            f"App {app.name}: the smoke CronJob needs --runtime-image (aiedge's runtime image)"
        )
    url = f"http://{lay.name}:{app.port}{app.smoke_test.path}"
    container = {
        "name": "smoke",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [f"{AIEDGE}/python", "-c", _SMOKE, url],
        "volumeMounts": [{"name": "test-data", "mountPath": "/test-data", "readOnly": True}],
        "securityContext": _restricted(),
    }
    pod = {
        "restartPolicy": "OnFailure",
        "containers": [container],
        "volumes": [{"name": "test-data", "configMap": {"name": f"{lay.name}-test-data"}}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": lay.meta(f"{lay.name}-smoke"),
        "spec": {
            "schedule": lay.spec.smoke_schedule,
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": pod}}},
        },
    }


def _dump(doc: dict[str, Any]) -> str:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def render_site(repo: GitopsRepo, site: str, options: RenderOptions | None = None) -> dict[str, str]:
    """File name -> YAML text: ``<app>-<kind>.yaml`` per deployed app and ``kustomization.yaml``.
    Apps awaiting their first build are left out; :class:`RenderRefused` when one cannot run."""
    opts = options or RenderOptions()
    state = desired_for_site(repo, site)
    files: dict[str, str] = {}
    for app in state.apps:
        spec = repo.apps[app.name].spec.kubernetes
        lay = _layout(app, spec)
        serving = overridden(repo.apps[app.name].spec, repo.sites[site].spec.overrides.get(app.name))
        doc = deployment(app, site, spec, opts.runtime_image, serving.resources)
        files[f"{app.name}-deployment.yaml"] = _dump(doc)
        files[f"{app.name}-service.yaml"] = _dump(service(app, spec))
        for kind, doc in _extras(app, lay, opts).items():
            files[f"{app.name}-{kind}.yaml"] = _dump(doc)
    kustomization: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    }
    if opts.namespace:
        kustomization["namespace"] = opts.namespace
    kustomization["resources"] = sorted(files)
    # the revision as a comment: an unrelated commit changes no object Argo CD applies
    files["kustomization.yaml"] = f"# site {site} at {state.revision}\n" + _dump(kustomization)
    return files
