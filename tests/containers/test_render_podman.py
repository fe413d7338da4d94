"""`aiedge render` output that really runs: the seed's housing model on the runtime base (what
`aiedge build --base` pushes), pushed to a real registry, rendered for a site, checked with
`kubectl kustomize` and schema validation, then the rendered Deployment and test-data ConfigMap
run under `podman kube play`: the pod's probe paths answer 200 (its liveness probe is podman's
health check) and it answers the seed's request with
-28.7639923. (podman runs Deployments and ConfigMaps; Service, Route, ServiceMonitor and CronJob
need a cluster. podman publishes a container port only with a hostPort, which the test adds.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from aiedge.containers.engine import Podman
from aiedge.containers.layout import LayoutImage
from aiedge.containers.push import push_layout
from aiedge.gitops import load_repo, read_directory
from aiedge.gitops.render import render_site
from aiedge.oci.reference import ImageReference
from tests.gitops.kube import by_kind, kustomize, validate
from tests.support import free_port, wait_until

REQUEST = {"instances": [[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]}
NAME = "tensorflow-housing-app-model-1"


def _gitops(root: Path, repository: str, digest: str) -> Path:
    root.mkdir(parents=True)
    (root / "app.yaml").write_text(
        f"""apiVersion: aiedge.io/v1alpha1
kind: App
metadata: {{name: tensorflow-housing-app}}
spec:
  model: tensorflow-housing
  protocol: tfserving
  image: {{repository: {repository}, digest: "{digest}"}}
  test:
    request: {json.dumps(REQUEST)}
    response: {{"predictions": [-28.7639923]}}
    rtol: 1.0e-4
  kubernetes:
    name: {NAME}
    labels: {{app: tensorflow-housing-app-1, model-name: tensorflow-housing}}
    runnable: true
---
apiVersion: aiedge.io/v1alpha1
kind: Site
metadata: {{name: edge-1, labels: {{zone: near-edge}}}}
---
apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata: {{name: near-edge}}
spec:
  siteSelector: {{matchLabels: {{zone: near-edge}}}}
  apps: [tensorflow-housing-app]
"""
    )
    return root


@pytest.mark.timeout(1800)
def test_rendered_pod_answers_the_seed(
    housing_image: LayoutImage, registry: str, podman: Podman, tmp_path: Path
) -> None:
    repository = f"{registry}/models/tensorflow-housing-runnable"
    digest = asyncio.run(push_layout(housing_image.path, ImageReference.parse(f"{repository}:1")))
    files = render_site(load_repo(read_directory(_gitops(tmp_path / "gitops", repository, digest))), "edge-1")
    out = tmp_path / "rendered"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    docs = kustomize(out)
    assert validate(docs) >= {"Deployment", "Service", "ConfigMap"}

    (dep,) = by_kind(docs, "Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{repository}@{digest}"
    port = free_port()
    container["ports"][0].update(hostPort=port, hostIP="127.0.0.1")
    kube = tmp_path / "play.yaml"
    kube.write_text("---\n".join(json.dumps(d) + "\n" for d in [*by_kind(docs, "ConfigMap"), dep]))
    podman.run("kube", "play", "--tls-verify=false", str(kube), what="podman kube play", timeout=900)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: httpx.get(f"{url}/v2/models/tensorflow-housing/ready", timeout=2).status_code == 200,
            timeout=300,
            interval=1,
            what="the pod's readiness path",
        )
        answer = httpx.post(
            f"{url}/v1/models/tensorflow-housing/versions/1:predict", json=REQUEST, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"][0] == pytest.approx(-28.7639923, rel=1e-4)

        # podman turns the liveness probe into the container's health check; it runs health checks
        # from systemd timers, which this machine's podman (cgroupfs, no systemd) has not, so the
        # test checks the check is there and asks the probe's path itself
        names = podman.run("ps", "--format", "{{.Names}}", what="podman ps").split()
        (model,) = [n for n in names if n.startswith(NAME) and n.endswith("-model")]
        config = json.loads(podman.run("inspect", model, what="podman inspect"))[0]["Config"]
        assert "/v2/health/live" in " ".join(config["Healthcheck"]["Test"])
        assert httpx.get(f"{url}/v2/health/live", timeout=5).status_code == 200
    finally:
        podman.run("kube", "down", str(kube), what="podman kube down", timeout=300)
    assert NAME not in podman.run("ps", "--all", "--format", "{{.Names}}", what="podman ps")
