"""Progressive rollouts against a real hub and fake agents (threads that long-poll the desired state
and post status reports as a real agent does): a new digest reaches wave 1 only, the next wave
starts once wave 1 has been healthy on it for soakSeconds, the rollout completes; a site failing its
smoke test on the next digest stops that rollout and goes back to the previous digest, the sites
not reached never see it. `GET /api/v1/rollouts` and `aiedge status` (table, ``--rollouts --json``)
show each app's rollout: target digest, wave, sites done/failed/updating/pending, soaking until T,
stopped when a site refuses the digest (its signature here). Also the Placement's rollout
validation. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aiedge.gitops import RepoInvalid, load_repo, read_directory, set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import FakeAgent, StartHub, dashboard_texts
from tests.support import aiedge_cmd, wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
ROLLOUT = """  rollout:
    waves: [{sites: 1}, {percent: 100}]
    soakSeconds: 0.5
    maxFailures: 0
"""


def _rollouts(url: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = httpx.get(f"{url}/api/v1/rollouts").json()
    return body


def test_waves_soak_then_a_failure_rolls_back(
    repo: Path, start_hub: StartHub, hub_db: str, agents: Callable[..., FakeAgent]
) -> None:
    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text() + ROLLOUT)
    git(repo, "commit", "-qam", "roll out in waves")
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", db=hub_db)
    fleet = {
        n: agents(hub.url, n, broken={D3} if n == "site-a" else set()) for n in ("site-a", "site-b", "site-c")
    }
    wait_until(lambda: all(a.serving == D1 for a in fleet.values()), what="everyone on D1")
    assert _rollouts(hub.url) == []

    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: fleet["site-a"].serving == D2, what="wave 1 on D2")
    (first,) = _rollouts(hub.url)
    assert first["app"] == "housing" and first["placement"] == "near-edge"
    assert (first["from_digest"], first["to_digest"]) == (D1, D2)
    # site-a alone until it has soaked; b and c are held on D1 meanwhile
    if first["state"] == "progressing" and first["wave"] == 1:
        assert D2 not in fleet["site-b"].seen and D2 not in fleet["site-c"].seen
    wait_until(lambda: _rollouts(hub.url)[0]["state"] == "complete", what="the rollout to complete")
    assert all(a.serving == D2 for a in fleet.values())
    done = _rollouts(hub.url)[0]
    assert [w["sites"] for w in done["waves"]] == [["site-a"], ["site-b", "site-c"]]
    assert [w["state"] for w in done["waves"]] == ["done", "done"]
    assert {n: p["state"] for n, p in done["sites"].items()} == dict.fromkeys(fleet, "healthy")

    set_app_image(repo, "housing", REPOSITORY, D3, "build 3")
    wait_until(lambda: _rollouts(hub.url)[0]["state"] == "failed", what="the rollout to stop")
    failed = _rollouts(hub.url)[0]
    assert (failed["from_digest"], failed["to_digest"], failed["failures"]) == (D2, D3, 1)
    assert failed["sites"]["site-a"]["state"] == "failed"
    assert "SmokeTestFailed" in failed["sites"]["site-a"]["message"]
    assert [w["state"] for w in failed["waves"]] == ["stopped", "waiting"]
    # site-a's desired state went back to D2; the others never saw D3
    state = httpx.get(f"{hub.url}/api/v1/sites/site-a/desired").json()
    assert state["apps"][0]["image"] == f"{REPOSITORY}@{D2}"
    assert fleet["site-a"].seen[-2:] == [D3, D2]
    assert D3 not in fleet["site-b"].seen and D3 not in fleet["site-c"].seen
    head = git(repo, "rev-parse", "HEAD")
    assert httpx.get(f"{hub.url}/api/v1/health").json()["revision"] == f"main@sha1:{head}"


def _status(hub: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd("status", "--hub", hub, *args),
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def test_status_shows_each_apps_rollout(
    repo: Path, start_hub: StartHub, hub_db: str, agents: Callable[..., FakeAgent]
) -> None:
    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text() + ROLLOUT.replace("soakSeconds: 0.5", "soakSeconds: 600"))
    git(repo, "commit", "-qam", "roll out in waves, soak 10 minutes")
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", db=hub_db)
    fleet = {
        n: agents(hub.url, n, broken={D3} if n == "site-a" else set(), refusal="SignatureInvalid")
        for n in ("site-a", "site-b", "site-c")
    }
    wait_until(lambda: all(a.serving == D1 for a in fleet.values()), what="everyone on D1")
    empty = _status(hub.url, "--rollouts")
    assert empty.returncode == 0 and "no rollouts yet" in empty.stdout, empty.stderr

    # wave 1 (site-a) healthy on D2: soaking for 600 s, the other two sites not reached yet
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollouts(hub.url)[0]["phase"] == "soaking", what="wave 1 soaking")
    (soaking,) = _rollouts(hub.url)
    assert (soaking["state"], soaking["wave"], soaking["total_waves"]) == ("progressing", 1, 2)
    assert soaking["counts"] == {"done": 0, "failed": 0, "updating": 1, "pending": 2, "skipped": 0}
    since = datetime.fromisoformat(soaking["sites"]["site-a"]["since"])
    assert datetime.fromisoformat(soaking["soak_until"]) == since + timedelta(seconds=600)
    as_json = _status(hub.url, "--rollouts", "--json")
    assert as_json.returncode == 0, as_json.stderr
    (shown,) = json.loads(as_json.stdout)
    assert (shown["app"], shown["to_digest"], shown["phase"]) == ("housing", D2, "soaking")
    table = _status(hub.url)
    assert table.returncode == 0, table.stderr
    assert "site-a" in table.stdout  # the sites table is still there, the rollouts below it
    row = next(line for line in table.stdout.splitlines() if "housing" in line and "near-edge" in line)
    assert D2[:19] in row and "1/2" in row and "0 done, 0 failed, 1 updating, 2 pending" in row
    until = (since + timedelta(seconds=600)).astimezone(UTC)  # may fall on the next day
    assert "soaking until " + until.strftime("%Y-%m-%d %H:%M") in row and "s left)" in row
    shown_in_browser = _dashboard_rollouts(hub.url)
    assert (
        shown_in_browser[0].startswith("housing") and D2.removeprefix("sha256:")[:12] in shown_in_browser[0]
    )
    assert "1/2" in shown_in_browser[0] and "soaking · " in shown_in_browser[0]
    assert "0 done · 0 failed · 1 updating · 2 pending" in shown_in_browser[0]

    # D3 is refused by site-a (its signature): the D2 rollout is superseded, D3's stops at wave 1
    # and site-a goes back to what it ran (D2, soaking), b and c stay on D1
    set_app_image(repo, "housing", REPOSITORY, D3, "build 3")
    wait_until(lambda: _rollouts(hub.url)[0]["phase"] == "stopped", what="the D3 rollout to stop")
    stopped = _rollouts(hub.url)[0]
    assert stopped["counts"] == {"done": 0, "failed": 1, "updating": 0, "pending": 2, "skipped": 0}
    assert stopped["sites"]["site-a"]["message"].startswith("SignatureInvalid: ")
    assert stopped["soak_until"] is None and stopped["from_digest"] == D1
    assert stopped["sites"]["site-a"]["from_digest"] == D2 and stopped["sites"]["site-b"]["from_digest"] == D1
    wait_until(lambda: fleet["site-a"].seen[-1] == D2, what="site-a back on D2")
    (shown,) = json.loads(_status(hub.url, "--rollouts", "--json").stdout)  # superseded D2 left out
    assert (shown["to_digest"], shown["phase"]) == (D3, "stopped")
    only = _status(hub.url, "--rollouts")
    assert only.returncode == 0 and "site-b" not in only.stdout, only.stderr
    assert f"stopped: 1 failed (max 0); failed sites back on {D2[:19]}" in only.stdout
    assert "site-a: SignatureInvalid: " in only.stdout
    # the dashboard's card names the failing site and why, and offers retry and abort
    (card,) = _dashboard_rollouts(hub.url)
    assert "stopped · 1 failed (max 0)" in card and "site-a: SignatureInvalid: " in card, card
    assert card.lower().endswith("retryabort"), card  # its two buttons
    refused = _status(hub.url, "site-a", "--rollouts")
    assert refused.returncode == 1 and "leave out SITE" in refused.stderr


@pytest.mark.parametrize(
    ("rollout", "message"),
    [
        ("  rollout:\n    waves: [{sites: 1}]\n", "the last wave must be {percent: 100}"),
        (
            "  rollout:\n    waves: [{sites: 1, percent: 50}, {percent: 100}]\n",
            "exactly one of sites or percent",
        ),
        ("  rollout:\n    waves: [{percent: 150}]\n", "spec.rollout.waves.0.percent"),
        ("  rollout:\n    waves: []\n", "spec.rollout.waves"),
        ("  rollout:\n    waves: [{percent: 100}]\n    maxFailures: -1\n", "spec.rollout.maxFailures"),
    ],
)
def test_rollout_validation(repo: Path, rollout: str, message: str) -> None:
    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text() + rollout)
    with pytest.raises(RepoInvalid) as e:
        load_repo(read_directory(repo))
    assert message in str(e.value)
    assert str(e.value).startswith("placements/near-edge.yaml:")


def test_the_json_schema_knows_rollouts() -> None:
    import jsonschema

    from aiedge.gitops.jsonschema import kinds_schema

    schema = kinds_schema()
    doc: dict[str, Any] = {
        "apiVersion": "aiedge.io/v1alpha1",
        "kind": "Placement",
        "metadata": {"name": "p"},
        "spec": {
            "siteSelector": {"matchLabels": {"tier": "near-edge"}},
            "apps": ["housing"],
            "rollout": {"waves": [{"sites": 1}, {"percent": 100}], "soakSeconds": 60, "maxFailures": 0},
        },
    }
    jsonschema.validate(doc, schema)
    doc["spec"]["rollout"]["soakSeconds"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)


def _dashboard_rollouts(hub: str) -> list[str]:
    """The rows of the fleet page's rollouts card, as a real headless Chromium shows them."""
    return dashboard_texts(hub, "#rollouts tr[data-rollout]")
