"""The core under `podman kube play` (issue 14): deploy/kubernetes/overlays/podman rendered with
`kubectl kustomize`, run with the images aiedge builds itself from Debian packages (the hub: the
slim base with git; PostgreSQL; git-sync), the database password from a podman secret, TLS from
a host folder; the hub reaches its PostgreSQL, git-sync brings the GitOps repo in, a join token
is made inside the hub container against that database, and a real `aiedge agent` on the host
enrols over HTTPS, serves the App, and the hub shows the site healthy. A commit pushed to the
repo afterwards reaches the hub through git-sync."""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiedge.containers.base_image import build_base
from aiedge.containers.engine import Podman
from aiedge.containers.services import ServiceSpec, build_service
from tests.cli.helpers import GIT_IDENTITY, HOUSING, HOUSING_TD, build, last_json
from tests.containers.images import CREATED, _locked_once, base_cache, base_spec, require_tools, shared_wheel
from tests.gitops.helpers import git, make_repo
from tests.gitops.kube import by_kind, kustomize
from tests.hub.helpers import bearer
from tests.support import REPO_ROOT, Proc, aiedge_cmd, free_port, wait_until

OVERLAY = REPO_ROOT / "deploy" / "kubernetes" / "overlays" / "podman"
POD = "aiedge-hub-pod-0"
SITE = "site-a"
PASSWORD = "s3cret-Pw"


def _images(shared: Path) -> dict[str, Path]:
    """The three images as OCI layouts, built once per run (shared by the xdist workers);
    ``AIEDGE_TEST_CORE_LAYOUTS`` names a folder with ready ``hub``, ``postgres`` and ``git-sync``."""
    if given := os.environ.get("AIEDGE_TEST_CORE_LAYOUTS"):
        return {name: Path(given) / name for name in ("hub", "postgres", "git-sync")}
    require_tools("debootstrap")
    wheel = shared_wheel(shared)

    # a download cache of their own: the other container tests' base builds hold the shared one's
    # lock for minutes, and these builds need not wait for them
    cache = base_cache().with_name("base-core")

    def hub(out: Path) -> None:
        spec = base_spec(out, wheel, runtimes=False)
        build_base(replace(spec, packages=("git",), extras=("postgres",), cache=cache))

    def service(name: str) -> Any:
        return lambda out: build_service(ServiceSpec(name, out, created=CREATED, cache=cache))

    def services() -> tuple[Path, Path]:
        return (
            _locked_once(shared / "core-postgres", service("postgres")),
            _locked_once(shared / "core-git-sync", service("git-sync")),
        )

    # the hub's build and the services' (one package cache, one after the other) side by side:
    # most of each is waiting on downloads and dpkg
    with ThreadPoolExecutor(2) as pool:
        hub_image = pool.submit(_locked_once, shared / "core-hub", hub)
        postgres, git_sync = pool.submit(services).result()
        return {"hub": hub_image.result(), "postgres": postgres, "git-sync": git_sync}


def _cert(folder: Path) -> Path:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "tls.key"), "-out", str(folder / "tls.crt")],
        check=True, capture_output=True,
    )  # fmt: skip
    for name in ("tls.key", "tls.crt"):
        (folder / name).chmod(0o644)  # the hub runs as user 1000; a test key, nothing to protect
    return folder / "tls.crt"


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A folder the pod's users can read (pytest's temp folders are root's, mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="aiedge-core-", dir="/tmp"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _manifests(tls: Path, repo: Path, port: int) -> list[dict[str, Any]]:
    docs = kustomize(OVERLAY)
    (hub,) = by_kind(docs, "Deployment")
    spec = hub["spec"]["template"]["spec"]
    (https,) = next(c for c in spec["containers"] if c["name"] == "hub")["ports"]
    https.update(hostPort=port, hostIP="127.0.0.1")
    for volume in spec["volumes"]:
        if volume["name"] == "tls":
            volume["hostPath"]["path"] = str(tls)
        if volume["name"] == "gitops-source":
            volume["hostPath"]["path"] = str(repo)
    return docs


def _secret(podman: Podman) -> None:
    url = f"postgresql://aiedge:{PASSWORD}@127.0.0.1:5432/aiedge"
    values = {"password": PASSWORD, "database-url": url}
    doc = json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in values.items()})
    done = subprocess.run(podman.argv("secret", "create", "aiedge-hub-db", "-"), input=doc, env=podman.env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def _site(hub: str, ca: ssl.SSLContext, operator: str) -> dict[str, Any]:
    r = httpx.get(f"{hub}/api/v1/sites/{SITE}", verify=ca, timeout=10, headers=bearer(operator))
    assert r.status_code in (200, 404), f"GET /api/v1/sites/{SITE}: {r.status_code} {r.text[:200]}"
    return dict(r.json()) if r.status_code == 200 else {}


@pytest.mark.timeout(2400)
def test_core_runs_under_podman_kube_play_and_enrols_a_site(
    shared_images: Path, shared: Path, registry: str, podman: Podman, host_dir: Path, tmp_path: Path
) -> None:
    images = _images(shared_images)
    for name, layout in images.items():
        image_id = podman.run("pull", "--quiet", f"oci:{layout}:latest", what=f"load {name}").split()[-1]
        podman.run("tag", image_id, f"localhost/aiedge/{name}:latest", what=f"tag {name}")

    repo = make_repo(host_dir / "gitops")
    built = build(str(shared / HOUSING), "--name", "tensorflow-housing",
                  "--image", f"{registry}/core/housing:1", "--test-data", str(shared / HOUSING_TD),
                  "--gitops", str(repo), "--app", "housing", "--json", env=GIT_IDENTITY)  # fmt: skip
    assert built.returncode == 0, built.stderr
    digest = last_json(built.stdout)["digest"]
    tls = host_dir / "tls"
    tls.mkdir()
    ca_file = _cert(tls)
    ca = ssl.create_default_context(cafile=str(ca_file))
    port = free_port()
    play = tmp_path / "core.yaml"
    play.write_text("---\n".join(json.dumps(d) + "\n" for d in _manifests(tls, repo, port)))
    _secret(podman)
    podman.run("kube", "play", str(play), what="podman kube play", timeout=300)
    hub = f"https://127.0.0.1:{port}"
    agent: Proc | None = None
    try:

        def healthy() -> bool:
            try:
                r = httpx.get(f"{hub}/api/v1/health", verify=ca, timeout=5)
            except httpx.HTTPError:
                return False
            return r.status_code == 200 and "sha1:" in r.text

        _wait(podman, healthy, 300, "the hub in the pod to serve a revision")
        token = podman.run("exec", f"{POD}-hub", "/opt/aiedge/bin/aiedge", "hub", "token", "create",
                           "--site", SITE, what="hub token create in the hub container").strip()  # fmt: skip
        agent = Proc(aiedge_cmd("agent", "--hub", hub, "--ca", str(ca_file), "--site", SITE,
                                "--data", str(tmp_path / "site"), "--poll-interval", "1"),
                     tmp_path / "agent.log", env={"AIEDGE_AGENT_TOKEN": token.splitlines()[-1]})  # fmt: skip

        # the operator API needs an operator token, made like the join token, in the hub's container
        operator = podman.run("exec", f"{POD}-hub", "/opt/aiedge/bin/aiedge", "hub", "operator", "create",
                              "tests", "--role", "read", what="operator create in the hub")  # fmt: skip

        def app_healthy() -> bool:
            apps = _site(hub, ca, operator.strip().splitlines()[-1]).get("apps") or []
            return any(a.get("digest") == digest and a.get("health") == "healthy" for a in apps)

        _wait(podman, app_healthy, 300, f"{SITE} healthy at the hub", agent)

        # a new commit reaches the hub through git-sync (the pod reads the host's repo)
        before = httpx.get(f"{hub}/api/v1/health", verify=ca, timeout=5).text
        (repo / "sites" / "extra.yaml").write_text(
            "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: site-z, labels: {zone: lab}}\n"
        )
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "one more site")
        sha = git(repo, "rev-parse", "HEAD")
        _wait(podman, lambda: sha in httpx.get(f"{hub}/api/v1/health", verify=ca, timeout=5).text,
              120, f"commit {sha[:12]} at the hub (was: {before[:200]})")  # fmt: skip
    finally:
        if agent is not None:
            agent.stop()
        podman.run("kube", "down", str(play), what="podman kube down", timeout=300)
        podman.run("secret", "rm", "aiedge-hub-db", what="podman secret rm")
        subprocess.run(podman.argv("volume", "rm", "--force", "aiedge-postgres"), env=podman.env,
                       capture_output=True, timeout=60, check=False)  # fmt: skip
    assert "Traceback" not in (tmp_path / "agent.log").read_text()


def _wait(podman: Podman, check: Any, timeout: float, what: str, agent: Proc | None = None) -> None:
    """``wait_until``, failing with the pod's (and the agent's) last log lines."""
    try:
        wait_until(check, timeout=timeout, interval=2, what=what)
    except AssertionError as e:
        extra = f" | agent: {agent.log()[-800:]}" if agent is not None else ""
        raise AssertionError(f"{e} | {_logs(podman)}{extra}") from None


def _logs(podman: Podman) -> str:
    out = []
    for name in ("hub", "postgres", "git-sync"):
        done = subprocess.run(podman.argv("logs", "--tail", "5", f"{POD}-{name}"), env=podman.env,
                              capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        out.append(f"{name}: {(done.stdout + done.stderr).strip()[-400:]}")
    return " | ".join(out)
