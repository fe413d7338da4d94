"""Drift seen from the core, end to end with a real registry, Git repo, hub and agent: the seed's
housing model built with its 20 test rows as reference data, an App asking for drift alerts;
traffic drawn from the reference rows raises nothing, the same traffic with two features shifted
raises ModelInputDrift at the hub for exactly those two features of that site and app, shown by
``/api/v1/drift`` and the dashboard's drift page; only the agent's small drift reports carry the
scores to the hub."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from aiedge.demo.gitops import APP_NAME, prepare_gitops
from tests.cli.helpers import HOUSING_TD
from tests.e2e.health import MODEL, build_housing, serving, set_app_spec, start_hub, start_site
from tests.hub.helpers import dashboard_texts
from tests.support import wait_until

HOUSING_ROWS = Path("seed-gitops/acm/odh-edge/apps/tensorflow-housing-app/files/test-data.json")


def predict(url: str, rows: np.ndarray) -> None:
    with httpx.Client(timeout=30) as client:
        for row in rows:
            r = client.post(f"{url}/v1/models/{MODEL}/versions/1:predict", json={"instances": [row.tolist()]})
            assert r.status_code == 200, r.text


def drift_alerts(hub: str) -> set[tuple[str, str, str, str]]:
    firing = httpx.get(f"{hub}/api/v1/alerts", timeout=5).json()["firing"]
    return {
        (a["name"], a["labels"]["site"], a["labels"]["app"], a["labels"]["feature"])
        for a in firing
        if a["name"] in ("ModelInputDrift", "ModelOutputDrift")
    }


def features(hub: str) -> dict[str, dict[str, Any]]:
    apps = httpx.get(f"{hub}/api/v1/drift", timeout=5).json()["sites"].get("site-a", {})
    return {f["feature"]: f for f in apps.get(APP_NAME, {}).get("features", [])}


def test_shifted_features_raise_drift_alerts_at_the_hub(shared: Path, registry: str, tmp_path: Path) -> None:
    gitops = prepare_gitops(
        tmp_path / "gitops",
        model_name=MODEL,
        repository=f"{registry}/e2e-drift/housing",
        test_data=shared / HOUSING_TD,
    )
    set_app_spec(gitops, drift={"threshold": 0.5, "sample": 1.0, "window": 200, "minRows": 50})
    digest = build_housing(shared, gitops, f"{registry}/e2e-drift/housing:1",
                           "--reference-data", str(shared / HOUSING_ROWS))  # fmt: skip
    hub, hub_url = start_hub(tmp_path, gitops)
    agent, site = start_site(tmp_path, hub_url, "site-a", env={"AIEDGE_AGENT_DRIFT_REPORT_INTERVAL": "1"})
    try:
        wait_until(lambda: serving(hub_url, "site-a", digest), timeout=180, what="site-a serving")
        rows = np.asarray(json.loads((shared / HOUSING_ROWS).read_text())["data"], dtype=np.float32)
        rng = np.random.default_rng(11)
        same = rows[rng.integers(0, len(rows), size=200)]
        predict(site, same)
        wait_until(lambda: len(features(hub_url)) == 9, timeout=60, what="9 features scored at the hub")
        calm = features(hub_url)
        assert not any(f["drifting"] for f in calm.values()), calm
        assert all(f["threshold"] == 0.5 for f in calm.values())
        assert drift_alerts(hub_url) == set()

        shifted = same.copy()
        shifted[:, 2] += 60.0  # housing_median_age above every reference row
        shifted[:, 6] *= 10.0  # median_income
        predict(site, shifted)
        want = {("ModelInputDrift", "site-a", APP_NAME, f) for f in ("x[2]", "x[6]")}
        wait_until(lambda: want <= drift_alerts(hub_url), timeout=60, what="drift alerts for x[2] and x[6]")
        inputs = {a for a in drift_alerts(hub_url) if a[0] == "ModelInputDrift"}
        assert inputs == want, inputs
        # the window fills with shifted rows: every one of them is above the reference's top bin
        wait_until(lambda: features(hub_url)["x[2]"]["score"] > 5.0, timeout=60, what="x[2] fully shifted")
        moved = features(hub_url)
        assert {n for n, f in moved.items() if f["drifting"] and f["kind"] == "input"} == {"x[2]", "x[6]"}
        alert = next(
            a for a in httpx.get(f"{hub_url}/api/v1/alerts", timeout=5).json()["firing"]
            if a["labels"].get("feature") == "x[2]"
        )  # fmt: skip
        assert "PSI" in alert["summary"] and "> 0.5" in alert["summary"], alert
        # the dashboard's drift page: the two features that moved, where, first
        shown = dashboard_texts(hub_url, "#drift tbody tr.drifting", "/#/drift")
        assert len(shown) == 2 and all(t.startswith(f"site-a {APP_NAME} x[") for t in shown), shown
        assert {t.split()[2] for t in shown} == {"x[2]", "x[6]"} and all("drifting" in t for t in shown)
    finally:
        agent.stop()
        hub.stop()
