"""Helpers of the model-health end-to-end tests (drift, capture, shadow): a GitOps App edited and
committed, builds of the seed's housing model, a real hub and agents on free loopback ports."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from aiedge.demo.gitops import APP_NAME
from tests.cli.helpers import HOUSING, HOUSING_TD
from tests.gitops.helpers import git
from tests.hub.helpers import launch_hub
from tests.support import Proc, aiedge_cmd, free_port

MODEL = "tensorflow-housing"


def set_app_spec(gitops: Path, **fields: Any) -> None:
    """Write ``fields`` into the App's spec and commit."""
    yaml = YAML()
    path = gitops / "apps" / f"{APP_NAME}.yaml"
    doc = yaml.load(path.read_text())
    doc["spec"].update(fields)
    with path.open("w") as fh:
        yaml.dump(doc, fh)
    git(gitops, "commit", "-qam", f"App {APP_NAME}: {', '.join(fields)}")


def build_housing(shared: Path, gitops: Path, image: str, *extra: str) -> str:
    out = subprocess.run(
        aiedge_cmd(
            "build",
            str(shared / HOUSING),
            "--name",
            MODEL,
            "--image",
            image,
            "--test-data",
            str(shared / HOUSING_TD),
            "--gitops",
            str(gitops),
            "--app",
            APP_NAME,
            "--json",
            *extra,
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return str(json.loads(out.stdout.strip().splitlines()[-1])["digest"])


def start_site(
    tmp_path: Path, hub_url: str, site: str, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()
) -> tuple[Proc, str]:
    """A real agent for ``site`` (``extra``: more flags); its site URL."""
    port = free_port()
    proc = Proc(
        aiedge_cmd(
            "agent",
            "--hub",
            hub_url,
            "--site",
            site,
            "--data",
            str(tmp_path / site),
            "--port-offset",
            str(port - 8080),
            "--poll-interval",
            "1",
            *extra,
        ),
        tmp_path / f"logs/agent-{site}.log",
        env=env,
    )
    return proc, f"http://127.0.0.1:{port}"


def start_hub(tmp_path: Path, gitops: Path) -> tuple[Proc, str]:
    hub = launch_hub(tmp_path, gitops, "--insecure-no-auth", env={"AIEDGE_HUB_ALERT_INTERVAL": "0.5"})
    return hub.proc, hub.url


def serving(hub: str, site: str, digest: str) -> bool:
    s = httpx.get(f"{hub}/api/v1/sites/{site}", timeout=5).json()
    return bool(s["status"] == "healthy" and [a["digest"] for a in s["apps"]] == [digest])
