"""What the hub refuses or holds is said where the operator looks, against a real `aiedge hub` and
fake agents: a revision that would take an app off every site (a one-letter typo in a Placement's
selector) is held until acknowledged, the sites keep their apps, `aiedge status`, the dashboard
and an alert say why; a HEAD that does not validate is a banner with file:line:col and the
revision still served, and an alert; a download shows its bytes, rate and ETA; server errors (5xx)
and rejected requests (4xx) are two separate rates, with an alert each."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from aiedge.gitops import set_app_image
from aiedge.telemetry.remote_write import REMOTE_WRITE_HEADERS, encode_series
from aiedge.telemetry.samples import Series, make_labels
from tests.gitops.helpers import git
from tests.hub.helpers import FakeAgent, StartHub, dashboard_texts
from tests.support import aiedge_cmd, wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
D1 = "sha256:" + "1" * 64
FAST_ALERTS = {"AIEDGE_HUB_ALERT_INTERVAL": "0.3"}
SITES = ("site-a", "site-b", "site-c")


def _health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/api/v1/health", timeout=30).json()
    return body


def _firing(url: str) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in httpx.get(f"{url}/api/v1/alerts", timeout=30).json()["firing"]}


def _status(hub: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("status", "--hub", hub, *args),
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def _apps_of(url: str, site: str) -> list[str]:
    return [a["name"] for a in httpx.get(f"{url}/api/v1/sites/{site}/desired", timeout=30).json()["apps"]]


def test_a_typo_that_removes_an_app_everywhere_is_held(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", env=FAST_ALERTS)
    fleet = [agents(hub.url, n) for n in SITES]
    wait_until(lambda: all(a.serving == D1 for a in fleet), what="everyone on D1")
    good = _health(hub.url)["revision"]

    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text().replace("tier: near-edge", "tier: near-egde"))
    git(repo, "commit", "-qam", "typo")
    typo = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    wait_until(lambda: _health(hub.url)["banner"] is not None, what="the held revision")
    health = _health(hub.url)
    banner = health["banner"]
    assert health["revision"] == good and health["status"] == "degraded"
    assert (banner["kind"], banner["revision"], banner["serving"]) == ("held", typo, good)
    assert banner["message"].startswith("placements/near-edge.yaml:")
    assert (
        "would remove app housing from 3 of the 3 sites serving it (site-a, site-b, site-c)"
        in banner["message"]
    )
    assert 'aiedge.io/allow-removal: "true"' in banner["message"]
    where = banner["problems"][0]
    selector_line = placement.read_text().splitlines().index("  siteSelector:") + 1
    assert where["file"] == "placements/near-edge.yaml" and where["line"] in (
        selector_line,
        selector_line + 1,
    )
    # every site keeps its app
    assert all(_apps_of(hub.url, s) == ["housing"] for s in SITES)
    assert all(a.serving == D1 for a in fleet)
    shown = _status(hub.url)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"GitOps revision {typo[:22]}" in shown.stdout
        and "is held: it would remove apps from sites" in shown.stdout
    )
    assert "would remove app housing from 3 of the 3 sites" in shown.stdout
    wait_until(lambda: "GitopsRemovalHeld" in _firing(hub.url), what="the alert")
    assert "still serving" in _firing(hub.url)["GitopsRemovalHeld"]["summary"]
    (text,) = dashboard_texts(hub.url, "#banner:not(.hidden)")
    assert (
        "is held: it would remove apps from sites" in text
        and f"placements/near-edge.yaml:{where['line']}:" in text
    )

    # meant it: the acknowledgement in a new commit publishes it, the app leaves the sites
    placement.write_text(
        placement.read_text().replace(
            "  name: near-edge\n", '  name: near-edge\n  annotations:\n    aiedge.io/allow-removal: "true"\n'
        )
    )
    git(repo, "commit", "-qam", "yes, remove it")
    acked = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    wait_until(lambda: _health(hub.url)["revision"] == acked, what="the acknowledged revision")
    assert _health(hub.url)["banner"] is None
    assert all(_apps_of(hub.url, s) == [] for s in SITES)
    wait_until(lambda: "GitopsRemovalHeld" not in _firing(hub.url), what="the alert to resolve")


def test_deleting_the_app_itself_is_not_held(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth")
    (repo / "placements" / "near-edge.yaml").unlink()
    (repo / "apps" / "housing.yaml").unlink()
    git(repo, "commit", "-qam", "retire housing")
    head = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    wait_until(lambda: _health(hub.url)["revision"] == head, what="the new revision")
    assert _health(hub.url)["banner"] is None and _apps_of(hub.url, "site-a") == []


def test_an_invalid_head_is_a_banner_and_an_alert(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", env=FAST_ALERTS)
    good = _health(hub.url)["revision"]
    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: 8080\n  colour: blue"))
    git(repo, "commit", "-qam", "unknown field")
    bad = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    wait_until(lambda: _health(hub.url)["banner"] is not None, what="the banner")
    banner = _health(hub.url)["banner"]
    assert (banner["kind"], banner["revision"], banner["serving"]) == ("invalid", bad, good)
    assert banner["problems"][0]["file"] == "apps/housing.yaml" and banner["problems"][0]["line"] > 0
    assert "colour" in banner["message"]
    for args in ((), ("site-a",), ("--rollouts",)):
        shown = _status(hub.url, *args)
        assert shown.returncode == 0, shown.stderr
        assert f"GitOps revision {bad[:22]}" in shown.stdout and "is invalid; still serving" in shown.stdout
        assert f"apps/housing.yaml:{banner['problems'][0]['line']}:" in shown.stdout
    wait_until(lambda: "GitopsRevisionRejected" in _firing(hub.url), what="the alert")
    (text,) = dashboard_texts(hub.url, "#banner:not(.hidden)")
    assert "is invalid" in text and f"apps/housing.yaml:{banner['problems'][0]['line']}:" in text


def _report(site: str, **app: Any) -> dict[str, Any]:
    return {"site": site, "apps": [{"name": "housing", **app}], "time": datetime.now(UTC).isoformat()}


def test_a_download_shows_bytes_rate_and_eta(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth")
    progress = {
        "done_bytes": 45_000_000,
        "total_bytes": 150_000_000,
        "rate_bps": 2_000_000,
        "eta_seconds": 52.5,
    }
    body = _report(
        "site-a", health="progressing", reason="Downloading", message="Downloading: 2 of 3 layers",
        target_digest=D1, progress=progress,
    )  # fmt: skip
    assert httpx.post(f"{hub.url}/api/v1/sites/site-a/status", json=body).status_code == 204
    want = "downloading 42.9 MiB / 143.1 MiB (30%), 1.9 MiB/s, ETA 52s"  # IEC units everywhere
    for args in ((), ("site-a",)):
        shown = _status(hub.url, *args)
        assert shown.returncode == 0 and want in shown.stdout, shown.stdout + shown.stderr
    (line,) = dashboard_texts(hub.url, '#sites [data-progress="housing"]')
    assert line == "downloading 42.9 MiB / 143.1 MiB (30%) · 1.9 MiB/s · ETA 52s"


def _series(site: str, now_ms: int, counts: dict[str, tuple[float, float]]) -> list[Series]:
    target = {"site": site, "app": "housing", "model": "tensorflow-housing", "version": "v1"}
    return [
        Series(
            make_labels("aiedge_serve_requests_total", {**target, "outcome": outcome, "protocol": "v2"}),
            [(now_ms - 30_000, before), (now_ms, after)],
        )
        for outcome, (before, after) in counts.items()
    ]


def test_server_errors_and_rejected_requests_are_two_rates(repo: Path, start_hub: StartHub) -> None:
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", env=FAST_ALERTS)
    now_ms = time.time_ns() // 1_000_000
    # 100 requests: 60 answered, 10 server errors, 20 bad requests, 10 for an unknown model
    counts = {"success": (0, 60), "error": (0, 10), "bad_request": (0, 20), "not_found": (0, 10)}
    r = httpx.post(
        f"{hub.url}/api/v1/metrics/write",
        content=encode_series(_series("site-a", now_ms, counts)),
        headers=REMOTE_WRITE_HEADERS,
    )
    assert r.status_code == 204, r.text
    recent = httpx.get(f"{hub.url}/api/v1/metrics/summary").json()["sites"]["site-a"]["housing"]
    assert (recent["requests"], recent["error_rate"], recent["rejected_rate"]) == (100, 0.10, 0.30)
    (app,) = httpx.get(f"{hub.url}/api/v1/apps").json()
    assert (app["recent"]["error_rate"], app["recent"]["rejected_rate"]) == (0.10, 0.30)
    shown = _status(hub.url, "site-a")
    assert shown.returncode == 0, shown.stderr
    assert "errors (5xx)" in shown.stdout and "rejected (4xx)" in shown.stdout
    row = next(
        (line for line in shown.stdout.splitlines() if "housing" in line and "%" in line), shown.stdout
    )
    assert "10.0%" in row and "30.0%" in row
    wait_until(
        lambda: {"EdgeInferenceErrorRateHigh", "EdgeInferenceRejectedRateHigh"} <= set(_firing(hub.url))
    )
    firing = _firing(hub.url)
    assert "10.0% of requests failing" in firing["EdgeInferenceErrorRateHigh"]["summary"]
    assert "30.0% of requests rejected" in firing["EdgeInferenceRejectedRateHigh"]["summary"]
    cells = dashboard_texts(hub.url, '#sites tr[data-site="site-a"] td.num')
    assert cells[-2:] == ["10.0%", "30.0%"]
