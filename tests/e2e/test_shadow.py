"""Shadow-gated rollouts end to end: an App with ``spec.rollout.shadow``, a real hub and agent, and
live traffic at the site the whole time. A new version that passes its smoke test but answers
differently on live traffic is refused (AppReason ShadowRejected, with the numbers) while the
serving one keeps answering; a version that agrees is switched to. No client ever gets an answer
other than the serving version's."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from onnx import numpy_helper

from aiedge.demo.model import DEMO_MODEL_NAME, WEIGHTS, model_proto, predict
from tests.e2e.health import serving, set_app_spec, start_hub, start_site
from tests.e2e.helpers import build_demo, demo_source
from tests.support import wait_until

# d . TEST_ROW == 0: a model with WEIGHTS + d passes the smoke test (its row is 1..8) but answers
# differently whenever x[0] != 1
DIFF = np.asarray([1.0, -0.5, 0, 0, 0, 0, 0, 0], dtype=np.float32)


def write_model(dest: Path, weights: np.ndarray[Any, Any], producer_version: str) -> None:
    model = model_proto()
    for init in model.graph.initializer:
        if init.name == "w":
            init.CopyFrom(numpy_helper.from_array(weights.astype(np.float32).reshape(8, 1), "w"))
    model.producer_version = producer_version  # a new digest even with the same weights
    (dest / "model.onnx").write_bytes(model.SerializeToString(deterministic=True))


class Traffic:
    """A client sending rows ``[i, 2, ..., 8]`` to the site until stopped; keeps every answer."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.answers: list[tuple[int, int, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        i = 0
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                i += 1
                row = [float(i % 50), 2, 3, 4, 5, 6, 7, 8]
                r = client.post(
                    f"{self.site}/v1/models/{DEMO_MODEL_NAME}/versions/1:predict", json={"instances": [row]}
                )
                self.answers.append((i % 50, r.status_code, r.json() if r.status_code == 200 else r.text))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def site_app(hub: str, site: str) -> dict[str, Any]:
    apps: list[dict[str, Any]] = httpx.get(f"{hub}/api/v1/sites/{site}", timeout=5).json()["apps"]
    return apps[0] if apps else {}


def test_a_shadow_phase_refuses_a_disagreeing_version_and_switches_to_an_agreeing_one(
    tmp_path: Path, registry: str
) -> None:
    src = demo_source(tmp_path, registry, "e2e-shadow")
    shadow = {
        "share": 1.0,
        "minSamples": 30,
        "tolerance": {"rtol": 1e-5, "atol": 1e-4},
        "maxLatencyRatio": 20,
    }
    set_app_spec(src.gitops, rollout={"shadow": shadow})
    v1 = build_demo(src, "v1")
    hub, hub_url = start_hub(tmp_path, src.gitops)
    agent, site = start_site(tmp_path, hub_url, "site-a")
    traffic: Traffic | None = None
    try:
        wait_until(lambda: serving(hub_url, "site-a", v1), timeout=120, what="site-a serving v1")
        traffic = Traffic(site)

        write_model(src.model, np.asarray(WEIGHTS, dtype=np.float32) + DIFF, "2")
        v2 = build_demo(src, "v2")
        wait_until(
            lambda: site_app(hub_url, "site-a").get("reason") == "ShadowRejected",
            timeout=180,
            what="v2 refused",
        )
        refused = site_app(hub_url, "site-a")
        assert refused["digest"] == v1 and refused["target_digest"] == v2, refused
        assert "answers agreed" in refused["message"] and "first disagreement" in refused["message"], refused

        write_model(src.model, np.asarray(WEIGHTS, dtype=np.float32), "3")
        v3 = build_demo(src, "v3")
        wait_until(lambda: serving(hub_url, "site-a", v3), timeout=180, what="site-a switched to v3")
        passed = re.search(rf"{v3} passed its shadow phase: (\d+)/(\d+) answers agreed", agent.log())
        assert passed is not None and passed[1] == passed[2] and int(passed[1]) >= 30, agent.log()[-2000:]
        seen = len(traffic.answers)
        wait_until(lambda: len(traffic.answers) > seen + 20, timeout=60, what="traffic on v3")
    finally:
        if traffic is not None:
            traffic.stop()
        for p in (agent, hub):
            p.stop()
    assert traffic is not None and len(traffic.answers) > 100
    for x0, status, body in traffic.answers:
        assert status == 200, body
        want = predict(np.asarray([[x0, 2, 3, 4, 5, 6, 7, 8]], dtype=np.float32))
        assert np.allclose(body["predictions"], want, rtol=1e-5), (x0, body)  # never v2's answer
