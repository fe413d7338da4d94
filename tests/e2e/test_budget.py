"""A site's data budget, end to end: a real registry, hub and agent. With a Site budget too small
for its model, the agent downloads nothing, says Deferred with a message naming the budget, and
reports its link usage (the hub shows it per day); when a commit raises the budget, the site
downloads the model, serves it, and the download is counted."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import build_demo, demo_source
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def _site(hub: str) -> dict[str, Any]:
    site: dict[str, Any] = httpx.get(f"{hub}/api/v1/sites/site-a", timeout=10).json()
    return site


def _set_budget(gitops: Path, budget: str) -> None:
    path = gitops / "sites" / "site-a.yaml"
    text = path.read_text().split("spec:\n")[0].rstrip("\n")
    path.write_text(f"{text}\nspec:\n  link: {{budget: {budget}, metered: true}}\n")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(
        ["git", "-C", str(gitops), "commit", "-qam", f"site-a: link budget {budget}"], env=env, check=True
    )


def test_a_small_budget_defers_the_download_until_a_bigger_one(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "e2e-budget")
    build_demo(src, "1")
    _set_budget(src.gitops, "2KB/day")
    hub_port, site_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub = Proc(
        aiedge_cmd(
            "hub", "--gitops", str(src.gitops), "--data", str(tmp_path / "hub"), "--port", str(hub_port),
            "--poll-interval", "1", "--insecure-no-auth",
        ),
        tmp_path / "logs/hub.log",
    )  # fmt: skip
    procs = [hub]
    try:
        wait_http(f"{hub_url}/api/v1/health")
        agent = Proc(
            aiedge_cmd(
                "agent", "--hub", hub_url, "--site", "site-a", "--data", str(tmp_path / "site-a"),
                "--port-offset", str(site_port - 8080), "--poll-interval", "0.5",
            ),
            tmp_path / "logs/agent.log",
        )  # fmt: skip
        procs.append(agent)

        def deferred() -> bool:
            apps = _site(hub_url)["apps"]
            return bool(apps) and apps[0]["reason"] == "Deferred"

        wait_until(deferred, timeout=120, what="site-a's app deferred by its budget")
        site = _site(hub_url)
        (app,) = site["apps"]
        assert "link budget" in app["message"] and "needs" in app["message"], app["message"]
        assert app["digest"] is None and app["health"] == "progressing"
        link = site["link"]
        assert link["budget"] == 2000 and link["metered"] and link["deferred"], link
        # the manifest (read to size the download) is counted; no layer came
        before = link["days"][-1]["kinds"]["downloads"]["received"]
        assert before < 2000, link
        blobs = tmp_path / "site-a" / "blobs" / "sha256"
        assert len(list(blobs.glob("*")) if blobs.exists() else []) <= 1  # the manifest alone

        _set_budget(src.gitops, "100MB/day")
        wait_until(lambda: _site(hub_url)["status"] == "healthy", timeout=180, what="site-a healthy")

        def counted() -> bool:
            got = _site(hub_url)["link"]["days"][-1]["kinds"]["downloads"]["received"]
            assert got > before + 900, (before, got)
            return True

        wait_until(counted, timeout=60, what="the download counted in site-a's link usage")
        site = _site(hub_url)
        assert site["link"]["budget"] == 100_000_000 and not site["link"]["deferred"], site["link"]
        assert (
            httpx.get(f"http://127.0.0.1:{site_port}/v1/models/housing-demo", timeout=10).status_code == 200
        )
        status = subprocess.run(
            aiedge_cmd("status", "site-a", "--hub", hub_url),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert "budget 100.0 MB/day" in status.stdout, status.stdout
    finally:
        for p in reversed(procs):
            p.stop()
