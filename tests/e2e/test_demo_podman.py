"""`aiedge demo --runtime podman`: site-a serves the demo model from a podman container (the model
stacked on the base image, built once per test run), site-b and site-c from local processes; every
site gives the same answer. Then, through the real hub, the podman site switches to a new digest
committed to the GitOps repo, refuses a model that fails its smoke test (its container removed, the
previous one serving on), and stopping the demo leaves no container behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from aiedge.gitops.edit import set_app_image
from tests.containers.images import private_storage, require_tools, run_dir, shared_base
from tests.e2e.helpers import Demo, predict_demo, start_demo
from tests.support import aiedge_cmd, wait_until

REQUEST = {"instances": [[1, 2, 3, 4, 5, 6, 7, 8]]}


@pytest.fixture
def podman_env() -> Iterator[dict[str, str]]:
    """Podman's image storage for the demo's agent in a private folder, emptied at the end."""
    require_tools("podman", "runc")
    with private_storage() as env:
        yield env


def _podman(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.stdout


@pytest.mark.timeout(1800)
def test_one_site_under_podman(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
    podman_env: dict[str, str],
    demo_factory: list[Demo],
) -> None:
    base = shared_base(run_dir(tmp_path_factory, pytestconfig), runtimes=True)
    demo = start_demo(
        tmp_path / "demo", "--runtime", "podman", "--base-layout", str(base), timeout=900, env=podman_env
    )
    demo_factory.append(demo)
    assert sorted(demo.sites) == ["site-a", "site-b", "site-c"]
    for url in demo.sites.values():
        assert predict_demo(url) == [6.5]
    running = _podman(podman_env, "ps", "--quiet", "--filter", "label=io.aiedge.app=housing-podman").split()
    assert len(running) == 1  # site-a's app, and only site-a's
    stderr = (tmp_path / "demo-stderr.log").read_text()
    assert "site-a will run its app under podman" in stderr
    print(f"demo with a podman site ready after {demo.ready_after_s:.1f} s")

    # a new digest of the runnable image, committed by the build: site-a switches to it
    m = re.search(r"^registry ready at http://(\S+)$", stderr, re.M)
    assert m is not None, stderr
    model, test_data = demo.data / "model", demo.data / "test-data.json"
    (model / "NOTES.txt").write_text("second build\n")
    second = _build_runnable(demo, m.group(1), model, test_data, "v2", podman_env)
    wait_until(lambda: _app(demo, "site-a")["digest"] == second, timeout=180, what="site-a on v2")
    assert predict_demo(demo.sites["site-a"]) == [6.5]

    # a model that answers 7.5 where the App's test expects 6.5: the smoke gate refuses it on site-a
    bad = tmp_path / "bad"
    _write_bad_model(model / "model.onnx", bad / "model.onnx")
    bad_data = tmp_path / "bad-test-data.json"
    bad_data.write_text(json.dumps({"request": REQUEST, "response": {"predictions": [7.5]}}))
    # built and smoke-tested against its own answer, then committed with the App's test left as it
    # is (build --gitops would commit the build's test with the digest)
    third = _build_runnable(demo, m.group(1), bad, bad_data, "bad", podman_env, commit=False)
    repository = f"{m.group(1)}/aiedge/housing-demo-runnable"
    set_app_image(demo.data / "gitops", "housing-podman", repository, third, "housing-podman: a wrong model")
    wait_until(lambda: _app(demo, "site-a")["reason"] == "SmokeTestFailed", timeout=180, what="refused")
    assert _app(demo, "site-a")["digest"] == second
    assert predict_demo(demo.sites["site-a"]) == [6.5]
    assert _podman(podman_env, "ps", "--all", "--quiet", "--filter", f"label=io.aiedge.digest={third}") == ""

    assert demo.stop() == 0
    assert _podman(podman_env, "ps", "--all", "--quiet").strip() == ""


def _app(demo: Demo, site: str) -> dict[str, str]:
    sites = demo.api("/api/v1/sites")
    (status,) = [s for s in sites if s["name"] == site]
    return (
        {k: v or "" for k, v in status["apps"][0].items()}
        if status["apps"]
        else {"digest": "", "message": "", "reason": ""}
    )


def _build_runnable(
    demo: Demo,
    registry: str,
    model: Path,
    test_data: Path,
    tag: str,
    env: dict[str, str],
    *,
    commit: bool = True,
) -> str:
    """`aiedge build --base` of the demo model for the podman App, committed to the demo's repo
    (with ``test_data`` as the App's test) unless ``commit`` is False."""
    gitops = ["--gitops", str(demo.data / "gitops"), "--app", "housing-podman"] if commit else []
    done = subprocess.run(
        aiedge_cmd(
            "build",
            str(model),
            "--name",
            "housing-demo",
            "--image",
            f"{registry}/aiedge/housing-demo-runnable:{tag}",
            "--base",
            f"{registry}/aiedge/base:demo",
            "--test-data",
            str(test_data),
            *gitops,
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout.strip().splitlines()[-1])["digest"])


def _write_bad_model(good: Path, out: Path) -> None:
    """The demo model with its bias one higher: every answer is off by 1."""
    proto = onnx.load(str(good))
    for init in proto.graph.initializer:
        if init.name == "b":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + np.float32(1), "b"))
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
