"""Site facts at a real `aiedge hub`: a Placement on ``facts: {arch: arm64}`` places its app only on a
site whose last status report says arm64 (none before any report), and the report that changes it
wakes the site's long poll at once; ``memoryAtLeast`` and ``accelerator`` select the same way; the
facts show in the site API, `aiedge status SITE` and the dashboard (headless Chromium)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from aiedge.gitops import set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub, dashboard_texts
from tests.support import aiedge_cmd

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
D1 = "sha256:" + "1" * 64
GI = 1 << 30
PLACEMENTS = """apiVersion: aiedge.io/v1alpha1
kind: App
metadata: {name: arm-app}
spec:
  model: arm
  image: {repository: 127.0.0.1:5000/aiedge/arm, digest: "ARM_DIGEST"}
---
apiVersion: aiedge.io/v1alpha1
kind: App
metadata: {name: gpu-app}
spec:
  model: gpu
  image: {repository: 127.0.0.1:5000/aiedge/gpu, digest: "GPU_DIGEST"}
---
apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata: {name: arm64-gateways}
spec:
  siteSelector:
    matchLabels: {tier: near-edge}
    facts: {arch: arm64}
    memoryAtLeast: 4Gi
  apps: [arm-app]
---
apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata: {name: gpus}
spec:
  siteSelector: {accelerator: gpu}
  apps: [gpu-app]
""".replace("ARM_DIGEST", "sha256:" + "2" * 64).replace("GPU_DIGEST", "sha256:" + "3" * 64)


def _facts(arch: str, memory: int, accelerators: list[str] | None = None) -> dict[str, Any]:
    return {
        "arch": arch,
        "os": "linux",
        "cpus": 4,
        "memory_bytes": memory,
        "disk_free_bytes": 20 * GI,
        "accelerators": accelerators or [],
        "openvino_devices": ["CPU"],
        "onnx_providers": ["CPUExecutionProvider"],
        "aiedge_version": "9.9.9",
    }


def _report(url: str, site: str, facts: dict[str, Any]) -> None:
    body = {"site": site, "apps": [], "time": datetime.now(UTC).isoformat(), "facts": facts}
    r = httpx.post(f"{url}/api/v1/sites/{site}/status", json=body, timeout=30)
    assert r.status_code == 204, r.text


def _desired(url: str, site: str, **params: str) -> httpx.Response:
    return httpx.get(f"{url}/api/v1/sites/{site}/desired", params=params, timeout=60)


def _apps(url: str, site: str) -> list[str]:
    return [a["name"] for a in _desired(url, site).json()["apps"]]


def test_placements_select_on_reported_facts(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    (repo / "placements" / "facts.yaml").write_text(PLACEMENTS)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "placements on facts")
    hub = start_hub(repo, "--insecure-no-auth")
    assert _apps(hub.url, "site-a") == ["housing"]  # no facts reported yet: no fact selector met

    # site-a says it is an arm64 gateway with 8 GiB: its long poll wakes with arm-app
    before = _desired(hub.url, "site-a").headers["X-Aiedge-Digest"]
    woke: list[tuple[float, httpx.Response]] = []
    poll = threading.Thread(
        target=lambda: woke.append((0.0, _desired(hub.url, "site-a", after=before, wait="30")))
    )
    poll.start()
    time.sleep(0.5)
    sent = time.monotonic()
    _report(hub.url, "site-a", _facts("arm64", 8 * GI))
    poll.join(60)
    assert woke and woke[0][1].status_code == 200
    assert [a["name"] for a in woke[0][1].json()["apps"]] == ["arm-app", "housing"]
    print(f"long poll woken {time.monotonic() - sent:.2f}s after the report with new facts")

    # amd64, or arm64 with too little memory: not placed; a GPU: gpu-app
    _report(hub.url, "site-b", _facts("amd64", 64 * GI))
    _report(hub.url, "site-c", _facts("arm64", 2 * GI, ["gpu"]))
    assert _apps(hub.url, "site-b") == ["housing"]
    assert _apps(hub.url, "site-c") == ["gpu-app", "housing"]
    # site-a's memory shrinks below the threshold: arm-app is taken off again
    _report(hub.url, "site-a", _facts("arm64", 2 * GI))
    assert _apps(hub.url, "site-a") == ["housing"]

    site = httpx.get(f"{hub.url}/api/v1/sites/site-c", timeout=30).json()
    assert site["facts"]["arch"] == "arm64" and site["facts"]["accelerators"] == ["gpu"]
    shown = subprocess.run(
        aiedge_cmd("status", "--hub", hub.url, "site-c"),
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "linux/arm64, 4 CPUs, 2.0 GiB memory" in shown.stdout
    assert "accelerators  gpu" in shown.stdout and "OpenVINO: CPU" in shown.stdout
    (card,) = dashboard_texts(hub.url, "#site-facts", "/#/site/site-c")
    assert "linux/arm64" in card and "ACCELERATORS GPU" in card.upper() and "AIEDGE 9.9.9" in card.upper()
