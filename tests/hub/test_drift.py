"""Drift at the hub: the rules (pure: the App's threshold per kind, drift off, stale reports
forgotten, only apps placed on the site, bounded per site), and a real hub taking drift reports
(a credential posts for its own site only; a malformed, non-finite or oversized report is a 4xx
naming the field) and raising ModelInputDrift within its alert interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aiedge.contracts import AppDrift, DriftReport, FeatureDrift
from aiedge.gitops.schema_health import DriftSpec
from aiedge.hub.drift import DriftTable, drift_alerts
from tests.gitops.helpers import git
from tests.hub.helpers import StartHub, bearer, enroll, operator_token
from tests.support import wait_until

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def report(site: str, app: str, **scores: float) -> DriftReport:
    feats = [
        FeatureDrift(kind="output" if k.startswith("out") else "input", feature=k, score=v)
        for k, v in scores.items()
    ]
    return DriftReport(
        site=site, time=NOW, apps=[AppDrift(app=app, version="sha256:1", rows=500, features=feats)]
    )


def test_rules_read_the_apps_thresholds() -> None:
    table = DriftTable(max_per_site=3, stale_after=600)
    table.put(report("site-a", "housing", x0=0.3, x1=0.05, out=0.3), {"housing"}, NOW)
    table.put(report("site-b", "housing", x0=0.3), {"other"}, NOW)  # not placed there: dropped
    specs: dict[str, DriftSpec | None] = {"housing": None}
    fired = {
        (a.name, a.labels["site"], a.labels["feature"]) for a in drift_alerts(table.scores(NOW), specs.get)
    }
    assert fired == {("ModelInputDrift", "site-a", "x0"), ("ModelOutputDrift", "site-a", "out")}

    specs["housing"] = DriftSpec(threshold=0.2, output_threshold=0.5)
    fired = {a.labels["feature"] for a in drift_alerts(table.scores(NOW), specs.get)}
    assert fired == {"x0"}
    specs["housing"] = DriftSpec(enabled=False)
    assert drift_alerts(table.scores(NOW), specs.get) == []

    assert table.scores(NOW + timedelta(seconds=601)) == []  # a silent site's scores are forgotten
    assert table.put(report("site-a", "housing", a=1, b=1, c=1, d=1, e=1), {"housing"}, NOW) == 3


def test_a_real_hub_takes_drift_reports_and_alerts(repo: Path, start_hub: StartHub) -> None:
    path = repo / "apps" / "housing.yaml"
    path.write_text(path.read_text() + "  drift:\n    threshold: 0.4\n")
    git(repo, "commit", "-qam", "drift threshold")
    hub = start_hub(repo, env={"AIEDGE_HUB_ALERT_INTERVAL": "0.3"})
    auth = bearer(enroll(hub, "site-a"))
    reader = bearer(operator_token(hub.data, "read"))

    def post(site: str, body: Any, headers: dict[str, str] = auth) -> httpx.Response:
        return httpx.post(f"{hub.url}/api/v1/sites/{site}/drift", json=body, headers=headers, timeout=10)

    good = report("site-a", "housing", **{"x[2]": 0.9, "x[0]": 0.1}).model_dump(mode="json")
    assert post("site-a", good, {}).status_code == 401
    assert post("site-b", {**good, "site": "site-b"}).status_code == 403
    assert post("site-b", good).status_code == 403  # another site's credential, whatever the body says
    bad = {
        **good,
        "apps": [{**good["apps"][0], "features": [{"kind": "input", "feature": "x", "score": "NaN"}]}],
    }
    r = post("site-a", bad)
    assert r.status_code == 422 and "apps.0.features.0.score" in r.json()["error"], r.text
    r = post(
        "site-a", {**good, "apps": [{"app": "housing", "features": [{"kind": "sideways", "feature": "x"}]}]}
    )
    assert r.status_code == 422 and "kind" in r.json()["error"]
    too_many = {**good, "apps": [{"app": "housing", "features": [good["apps"][0]["features"][0]] * 300}]}
    assert post("site-a", too_many).status_code == 422
    huge = httpx.post(
        f"{hub.url}/api/v1/sites/site-a/drift",
        content=b" " * (2 << 20),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert huge.status_code == 413

    assert post("site-a", good).status_code == 204
    operators_only = httpx.get(f"{hub.url}/api/v1/sites/site-a/drift", headers=auth)
    assert operators_only.status_code == 403  # a site's credential is no operator token
    seen = httpx.get(f"{hub.url}/api/v1/sites/site-a/drift", headers=reader).json()
    feats = {f["feature"]: f for f in seen["apps"]["housing"]["features"]}
    assert feats["x[2]"] == {
        "kind": "input",
        "feature": "x[2]",
        "score": 0.9,
        "threshold": 0.4,
        "drifting": True,
    }
    assert feats["x[0]"]["drifting"] is False

    def firing() -> list[dict[str, Any]]:
        return [
            a
            for a in httpx.get(f"{hub.url}/api/v1/alerts", headers=reader).json()["firing"]
            if a["name"] == "ModelInputDrift"
        ]

    wait_until(lambda: len(firing()) == 1, timeout=20, what="ModelInputDrift")
    assert firing()[0]["labels"] == {"site": "site-a", "app": "housing", "feature": "x[2]"}
    calm = report("site-a", "housing", **{"x[2]": 0.1}).model_dump(mode="json")
    assert post("site-a", calm).status_code == 204
    wait_until(lambda: firing() == [], timeout=20, what="the alert to resolve")
