"""End to end through `aiedge demo`: a real registry, Git repo, build, hub and three agents.

Covers the walking skeleton's acceptance checks: the default demo (aiedge's own model, no
../shared needed), the seed's housing model answering -28.7639923 on every site, `aiedge status`
listing the three sites with the pushed digest, and a clean stop that leaves nothing running.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import Demo, start_demo
from tests.support import aiedge_cmd


def _predict(url: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/models/{model}/versions/1:predict",
        content=b'{"instances": [[1,2,3,4,5,6,7,8]]}',
        timeout=10,
    )


def _status(hub: str) -> list[dict[str, object]]:
    out = subprocess.run(
        aiedge_cmd("status", "--hub", hub, "--json"), capture_output=True, text=True, check=True, timeout=60
    )
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
    sites = _status(demo.hub)
    assert {s["name"] for s in sites} == set(demo.sites)
    digests = {a["digest"] for s in sites for a in s["apps"]}  # type: ignore[attr-defined]
    assert len(digests) == 1 and next(iter(digests)).startswith("sha256:")
    # the human table names every site too
    table = subprocess.run(
        aiedge_cmd("status", "--hub", demo.hub), capture_output=True, text=True, check=True, timeout=60
    ).stdout
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
