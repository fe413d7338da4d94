"""End to end, piece by piece: build -> GitOps commit -> hub -> agents -> serve, then faults.

A new digest committed to the GitOps repo reaches every running site with no restart by hand;
killing the hub (SIGKILL) leaves every site serving; an agent restarted while the hub is down
serves again from what it kept on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx

from tests.e2e.helpers import build_demo, demo_source, predict_demo
from tests.support import Proc, aiedge_cmd, free_port, wait_http, wait_until


def _site_digests(hub: str) -> dict[str, str | None]:
    sites = httpx.get(f"{hub}/api/v1/sites", timeout=5).json()
    return {
        s["name"]: (s["apps"][0].get("digest") if s["apps"] and s["status"] == "healthy" else None)
        for s in sites
    }


def test_new_digest_reaches_sites_and_sites_survive_the_hub(tmp_path: Path, registry: str) -> None:
    src = demo_source(tmp_path, registry, "e2e")
    model, gitops = src.model, src.gitops
    first = build_demo(src, "v1")

    hub_port = free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    hub_cmd = aiedge_cmd(
        "hub",
        "--gitops",
        str(gitops),
        "--data",
        str(tmp_path / "hub"),
        "--port",
        str(hub_port),
        "--poll-interval",
        "1",
        "--insecure-no-auth",
    )
    hub = Proc(hub_cmd, tmp_path / "logs/hub.log")
    procs = [hub]
    try:
        wait_http(f"{hub_url}/api/v1/health")
        site_urls: dict[str, str] = {}
        for site in ("site-a", "site-b"):
            port = free_port()
            site_urls[site] = f"http://127.0.0.1:{port}"
            procs.append(
                Proc(
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
                    ),
                    tmp_path / f"logs/agent-{site}.log",
                )
            )
        wait_until(
            lambda: {_site_digests(hub_url).get(s) for s in site_urls} == {first},
            timeout=120,
            what="sites on v1",
        )
        for url in site_urls.values():
            assert predict_demo(url) == [6.5]

        # a new image: same answers, one more file, so a new digest, committed by the build
        shutil.copy(model / "model.onnx", tmp_path / "model.onnx.bak")
        (model / "NOTES.txt").write_text("second build\n")
        second = build_demo(src, "v2")
        assert second != first
        wait_until(
            lambda: {_site_digests(hub_url).get(s) for s in site_urls} == {second},
            timeout=120,
            what="sites on v2",
        )
        for url in site_urls.values():
            assert predict_demo(url) == [6.5]

        # the hub dies: every site keeps serving
        hub.kill()
        for url in site_urls.values():
            assert predict_demo(url) == [6.5]

        # an agent restarted while the hub is down serves again from its disk
        agent_a = procs[1]
        agent_a.stop()
        url_a = site_urls["site-a"]
        wait_until(lambda: _down(url_a), timeout=120, what="site-a stopped with its agent")
        procs[1] = Proc(agent_a.cmd, tmp_path / "logs/agent-site-a-2.log")
        wait_until(lambda: predict_demo(url_a) == [6.5], timeout=120, what="site-a serving again offline")
    finally:
        for p in reversed(procs):
            p.stop()


def _down(url: str) -> bool:
    try:
        httpx.get(url, timeout=1)
    except httpx.TransportError:
        return True
    return False
