"""Serving settings and per-site overrides: an App sets env, precision, device (cpu, gpu, npu,
auto; deviceRequired), slots, queue and resources; a Site overrides them for itself field by field
(env name by name) without a second App; other sites keep the App's; the desired state carries
them (and is unchanged for apps that set none); a bad value or an override of an App that does not
exist is refused with file:line:col naming the field."""

from __future__ import annotations

import pytest
from ruamel.yaml import YAML

from aiedge.gitops import GitopsRepo, RepoInvalid, Snapshot, desired_for_site, load_repo
from aiedge.gitops.render import render_site

DIGEST = "sha256:" + "ab" * 32
APP = (
    "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: {name: m}\nspec:\n  model: mod\n"
    f"  image: {{repository: reg.example.com/team/m, digest: '{DIGEST}'}}\n"
)
PLACE = (
    "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p}\n"
    "spec:\n  siteSelector: {}\n  apps: [m]\n"
)


def _site(name: str, spec: str = "") -> str:
    body = f"spec:\n{spec}" if spec else ""
    return f"---\napiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {{name: {name}}}\n{body}"


def _repo(app_extra: str = "", *sites: str) -> GitopsRepo:
    text = APP + app_extra + PLACE + "".join(sites or (_site("a"),))
    return load_repo(Snapshot("main@sha1:" + "0" * 40, {"all.yaml": text.encode()}))


def _refused(app_extra: str, *sites: str) -> str:
    with pytest.raises(RepoInvalid) as e:
        _repo(app_extra, *sites)
    return str(e.value)


APP_SERVING = (
    "  device: auto\n  precision: f32\n  slots: 2\n  queue: 16\n  env: {MODE: fast, LEVEL: '1'}\n"
    "  resources: {requests: {cpu: 500m, memory: 1Gi}}\n  kubernetes: {runnable: true}\n"
)
GPU_SITE = (
    "  overrides:\n    m:\n      device: gpu\n      deviceRequired: true\n      slots: 8\n"
    "      env: {MODE: accurate}\n      resources: {limits: {nvidia.com/gpu: '1'}}\n"
)


def test_a_site_overrides_the_apps_settings_for_itself() -> None:
    repo = _repo(APP_SERVING, _site("plain"), _site("gpu-box", GPU_SITE))
    plain = desired_for_site(repo, "plain").apps[0]
    assert (plain.device, plain.device_required, plain.slots, plain.queue) == ("auto", False, 2, 16)
    assert plain.env == {"MODE": "fast", "LEVEL": "1"}
    gpu = desired_for_site(repo, "gpu-box").apps[0]
    assert (gpu.device, gpu.device_required, gpu.slots, gpu.queue, gpu.precision) == (
        "gpu",
        True,
        8,
        16,
        "f32",
    )
    assert gpu.env == {"MODE": "accurate", "LEVEL": "1"}  # name by name
    # rendered manifests: the site's resources and the serving settings in the container's env
    container = _container(render_site(repo, "gpu-box"))
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"nvidia.com/gpu": "1"},
    }
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["AIEDGE_SERVE_DEVICE"] == "gpu" and env["MODE"] == "accurate"


def _container(files: dict[str, str]) -> dict[str, object]:
    doc = YAML(typ="safe").load(files["m-deployment.yaml"])
    container: dict[str, object] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


def test_apps_without_serving_settings_keep_their_desired_state() -> None:
    app = desired_for_site(_repo(), "a").apps[0]
    dumped = app.model_dump(mode="json")
    for key in ("env", "device", "device_required", "precision", "slots", "queue"):
        assert key not in dumped  # the same digest as before these fields existed


@pytest.mark.parametrize(
    ("app_extra", "site_spec", "where", "message"),
    [
        (
            "",
            "  overrides:\n    other: {device: gpu}\n",
            "all.yaml:20:5",
            "spec.overrides.other: no App named 'other'",
        ),
        ("", "  overrides:\n    m: {device: tpu}\n", "all.yaml:20:17", "spec.overrides.m.device"),
        ("", "  overrides:\n    m: {slots: 0}\n", "all.yaml:20:16", "spec.overrides.m.slots"),
        ("", "  overrides:\n    m: {gpus: 1}\n", "all.yaml:20:9", "spec.overrides.m.gpus"),
        ("  env: {AIEDGE_SERVE_ALLOW_PICKLE: 'true'}\n", "", "all.yaml:7:8", "set by their own fields"),
        ("  resources: {limits: {memory: lots}}\n", "", "all.yaml:7:23", "not a Kubernetes quantity"),
        ("  precision: f64\n", "", "all.yaml:7:14", "spec.precision"),
    ],
)
def test_bad_settings_name_the_field(app_extra: str, site_spec: str, where: str, message: str) -> None:
    text = _refused(app_extra, _site("a", site_spec))
    assert message in text, text
    assert where in text, text
