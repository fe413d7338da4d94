"""End to end through `aiedge demo`: a real registry, Git repo, build, hub and three agents.

Covers the walking skeleton's acceptance checks: the default demo (aiedge's own model, no
../shared needed), the seed's housing model answering -28.7639923 on every site, `aiedge status`
listing the three sites with the pushed digest, and a clean stop that leaves nothing running.
A demo whose hub is SIGKILLed keeps running and says how to restart it, while all three sites
keep answering; the join tokens never show on the agents' command lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.helpers import Demo, predict_demo, start_demo
from tests.support import aiedge_cmd, wait_until


def _predict(url: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/models/{model}/versions/1:predict",
        content=b'{"instances": [[1,2,3,4,5,6,7,8]]}',
        timeout=10,
    )


def _status(demo: Demo, *args: str) -> subprocess.CompletedProcess[str]:
    """`aiedge status` as the demo says to run it: with its operator token file."""
    assert demo.token_file is not None and demo.token_file.stat().st_mode & 0o777 == 0o600
    cmd = aiedge_cmd("status", "--hub", demo.hub, "--token-file", str(demo.token_file), *args)
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60)


def _sites(demo: Demo) -> list[dict[str, object]]:
    out = _status(demo, "--json")
    return json.loads(out.stdout)


def _assert_stopped(demo: Demo) -> None:
    assert demo.stop() == 0
    for url in [demo.hub, *demo.sites.values()]:
        try:
            httpx.get(url, timeout=2)
        except httpx.TransportError:
            continue
        raise AssertionError(f"{url} still answers after the demo stopped")


def test_default_demo_serves_its_own_model_on_three_sites(tmp_path: Path, demo_factory: list[Demo]) -> None:
    demo = start_demo(tmp_path / "demo")
    demo_factory.append(demo)
    assert sorted(demo.sites) == ["site-a", "site-b", "site-c"]
    for url in demo.sites.values():
        r = _predict(url, "housing-demo")
        assert r.status_code == 200, r.text
        assert r.json() == {"predictions": [6.5]}
    sites = _sites(demo)
    assert {s["name"] for s in sites} == set(demo.sites)
    digests = {a["digest"] for s in sites for a in s["apps"]}  # type: ignore[attr-defined]
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")
    # the human table names every site too
    table = _status(demo).stdout
    for name in demo.sites:
        assert name in table
    print(f"default demo ready after {demo.ready_after_s:.1f} s")
    _assert_stopped(demo)


def test_demo_with_the_seed_housing_model_answers_the_seed_request(
    tmp_path: Path, shared: Path, demo_factory: list[Demo]
) -> None:
    demo = start_demo(
        tmp_path / "demo",
        "--model",
        str(shared / "seed-models/tensorflow-housing/tf2model"),
        "--name",
        "tensorflow-housing",
        "--test-data",
        str(shared / "seed-gitops/examples/tekton/aiedge-e2e/test-data/tensorflow-housing-test-data-cm.yaml"),
    )
    demo_factory.append(demo)
    for url in demo.sites.values():
        r = _predict(url, "tensorflow-housing")
        assert r.status_code == 200, r.text
        assert "-28.7639923" in r.text
        assert r.json() == {"predictions": [-28.7639923]}
    print(f"housing demo ready after {demo.ready_after_s:.1f} s")
    _assert_stopped(demo)


def _children(parent: int) -> dict[int, list[str]]:
    """The demo's child processes: pid -> argv."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent:
            found[int(entry.name)] = argv
    return found


def test_the_demo_outlives_its_hub_and_the_sites_keep_serving(
    tmp_path: Path, demo_factory: list[Demo]
) -> None:
    demo = start_demo(tmp_path / "demo")
    demo_factory.append(demo)
    children = _children(demo.popen.pid)
    agents = {pid: argv for pid, argv in children.items() if "agent" in argv}
    assert len(agents) == 3
    for argv in agents.values():  # the join token travels in the environment, not in ps
        assert "--token" not in argv and not any(a.startswith("aiedge-join-") for a in argv), argv
    (hub_pid,) = [pid for pid, argv in children.items() if "hub" in argv and "--gitops" in argv]

    os.kill(hub_pid, signal.SIGKILL)
    stderr = tmp_path / "demo-stderr.log"
    wait_until(lambda: "hub stopped unexpectedly" in stderr.read_text(), timeout=120, what="the demo says so")
    text = stderr.read_text()
    assert "the demo keeps running" in text and "start it again" in text
    assert f"hub --gitops {demo.data / 'gitops'}" in text  # the command that restarts it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # for a while, not once: the sites live on without a hub
        for url in demo.sites.values():
            assert predict_demo(url) == [6.5]
        time.sleep(1)
    assert demo.popen.poll() is None, "the demo stopped when its hub died"
    _assert_stopped(demo)
