"""End to end, placement on what sites really have: two real agents report their real facts to a
real hub; a Placement on ``facts: {arch: <this machine's>}`` and ``diskFreeAtLeast: 1Gi`` places the
demo model only on the site whose data folder has the disk (the other's is a 64 MiB tmpfs), and a
commit that asks for ``arch: arm64`` instead takes it off again (no site here is arm64)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiedge.demo.gitops import APP_NAME
from aiedge.oci.platform import host_platform
from tests.e2e.helpers import build_demo, demo_source, predict_demo
from tests.gitops.helpers import git
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until

PLACEMENT = """apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata:
  name: near-edge
spec:
  siteSelector:
    matchLabels: {{tier: near-edge}}
    facts: {{arch: {arch}}}
    diskFreeAtLeast: 1Gi
  apps: [{app}]
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 64 MiB tmpfs of its own, unmounted at the end."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs (needs root): {done.stderr.decode().strip()}", pytrace=False)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _site(hub: str, name: str) -> dict[str, object]:
    body: dict[str, object] = httpx.get(f"{hub}/api/v1/sites/{name}", timeout=10).json()
    return body


def _serving(hub: str, name: str) -> str | None:
    apps = _site(hub, name)["apps"]
    assert isinstance(apps, list)
    return apps[0].get("digest") if apps and apps[0].get("health") == "healthy" else None


def test_real_facts_place_the_model(tmp_path: Path, registry: str, small_disk: Path) -> None:
    src = demo_source(tmp_path, registry, "facts")
    placement = src.gitops / "placements" / "near-edge.yaml"
    placement.write_text(PLACEMENT.format(arch=host_platform().architecture, app=APP_NAME))
    git(src.gitops, "commit", "-q", "-am", "near-edge: only sites with this arch and 1Gi of free disk")
    digest = build_demo(src, "v1")
    hub_port = free_port()
    hub = f"http://127.0.0.1:{hub_port}"
    procs = [
        Proc(
            aiedge_cmd(
                "hub", "--gitops", str(src.gitops), "--data", str(tmp_path / "hub"), "--port", str(hub_port),
                "--poll-interval", "1", "--insecure-no-auth",
            ),
            tmp_path / "logs/hub.log",
        )
    ]  # fmt: skip
    try:
        wait_http(f"{hub}/api/v1/health")
        ports = {}
        for site, data in (("site-a", tmp_path / "site-a"), ("site-b", small_disk / "data")):
            ports[site] = free_port()
            procs.append(
                Proc(
                    aiedge_cmd(
                        "agent", "--hub", hub, "--site", site, "--data", str(data),
                        "--port-offset", str(ports[site] - 8080), "--poll-interval", "1",
                    ),
                    tmp_path / f"logs/agent-{site}.log",
                )
            )  # fmt: skip
        wait_until(lambda: _serving(hub, "site-a") == digest, timeout=180, what="site-a serving")
        assert predict_demo(f"http://127.0.0.1:{ports['site-a']}") == [6.5]
        wait_until(lambda: _site(hub, "site-b").get("facts") is not None, timeout=120, what="site-b facts")
        facts = _site(hub, "site-b")["facts"]
        assert isinstance(facts, dict) and facts["disk_free_bytes"] <= 64 << 20
        assert _site(hub, "site-b")["apps"] == []  # placed nowhere there: too little disk

        # only arm64 sites: site-a is not one, so the model leaves it
        placement.write_text(PLACEMENT.format(arch="arm64", app=APP_NAME))
        git(src.gitops, "commit", "-q", "-am", "near-edge: arm64 gateways only")
        wait_until(lambda: _site(hub, "site-a")["apps"] == [], timeout=120, what="the app off site-a")
    finally:
        for p in reversed(procs):
            p.stop()
