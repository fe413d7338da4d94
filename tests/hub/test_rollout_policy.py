"""Rollout policy against a real hub and fake agents that speak the real wire contract: work under
way (Progressing on the new digest) is never a failure; a smoke-test failure stops the rollout and
alerts, and fixing the App's test in Git retries it (a failure is keyed on what was tried); a new
digest while stopped starts from what each site runs and moves no pending site outside its wave;
a silent site past its progressDeadline is skipped or failed by policy (maxFailures as a share);
`paused: true` in Git, and `aiedge rollout status|pause|resume|abort|retry`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from aiedge.gitops import set_app_image
from tests.gitops.helpers import git
from tests.hub.helpers import FakeAgent, StartHub
from tests.support import aiedge_cmd, wait_until

REPOSITORY = "127.0.0.1:5000/aiedge/tensorflow-housing"
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
SITES = ("site-a", "site-b", "site-c")
SEED_ANSWER = json.dumps({"predictions": [-28.7639923]}, sort_keys=True)


def _policy(repo: Path, rollout: str) -> None:
    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text() + "  rollout:\n" + rollout)
    git(repo, "commit", "-qam", "rollout policy")


def _rollout(url: str) -> dict[str, Any]:
    body: list[dict[str, Any]] = httpx.get(f"{url}/api/v1/rollouts", timeout=30).json()
    return body[0] if body else {}


def _desired_digest(url: str, site: str) -> str | None:
    apps = httpx.get(f"{url}/api/v1/sites/{site}/desired", timeout=30).json()["apps"]
    return apps[0]["image"].split("@", 1)[1] if apps else None


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        aiedge_cmd(*args), capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "COLUMNS": "250"},
    )  # fmt: skip


def _start(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent], rollout: str, **kw: Any
) -> tuple[str, dict[str, FakeAgent]]:
    _policy(repo, rollout)
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth", env={"AIEDGE_HUB_ALERT_INTERVAL": "0.3"})
    fleet = {n: agents(hub.url, n, **kw) for n in SITES}
    wait_until(lambda: all(a.serving == D1 for a in fleet.values()), what="everyone on D1")
    return hub.url, fleet


def test_progressing_on_the_new_digest_is_not_a_failure(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    """Issue 11 point 2: a big model takes a while to start; the agent says Progressing (degraded)."""
    url, fleet = _start(
        repo, start_hub, agents, "    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 0.5\n", starting=6
    )
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(url).get("state") == "complete", timeout=60, what="the rollout to complete")
    done = _rollout(url)
    assert done["failures"] == 0 and {p["state"] for p in done["sites"].values()} == {"healthy"}
    assert all(a.serving == D2 and a.reason == "Ready" for a in fleet.values())


def test_fixing_the_test_in_git_retries_a_failed_rollout(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    """Issue 11 point 3: the failure is keyed on digest + test + config, not on the digest alone."""
    url, fleet = _start(
        repo, start_hub, agents, "    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 0.5\n"
    )
    for a in fleet.values():  # the new model answers differently from what the App expects
        a.broken_tests = {SEED_ANSWER}
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(url).get("phase") == "stopped", what="the rollout to stop")
    stopped = _rollout(url)
    assert stopped["sites"]["site-a"]["message"].startswith("SmokeTestFailed: ")
    assert _desired_digest(url, "site-a") == D1 and D2 not in fleet["site-b"].seen
    wait_until(
        lambda: (
            "EdgeRolloutStopped" in {a["name"] for a in httpx.get(f"{url}/api/v1/alerts").json()["firing"]}
        ),
        what="the stopped-rollout alert",
    )
    shown = _cli("rollout", "status", "housing", "--hub", url)
    assert shown.returncode == 0 and "stopped: 1 failed (max 0)" in shown.stdout, shown.stdout + shown.stderr
    assert "aiedge rollout retry housing" in shown.stdout

    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("-28.7639923", "-20.5"))
    git(repo, "commit", "-qam", "the expected answer of build 2")
    wait_until(lambda: _rollout(url).get("state") == "complete", timeout=60, what="the retried rollout")
    again = _rollout(url)
    assert (again["from_digest"], again["to_digest"], again["failures"]) == (D1, D2, 0)
    assert all(a.serving == D2 for a in fleet.values())
    wait_until(
        lambda: (
            "EdgeRolloutStopped"
            not in {a["name"] for a in httpx.get(f"{url}/api/v1/alerts").json()["firing"]}
        ),
        what="the alert to resolve",
    )


def test_a_new_digest_while_stopped_moves_no_pending_site(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    """Issue 11 point 4: D3 starts from what each site runs (D1), wave by wave, not from the bad D2."""
    url, fleet = _start(
        repo, start_hub, agents, "    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 600\n"
    )
    fleet["site-a"].broken = {D2}
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(url).get("phase") == "stopped", what="the D2 rollout to stop")
    set_app_image(repo, "housing", REPOSITORY, D3, "build 3")
    wait_until(lambda: _rollout(url).get("to_digest") == D3, what="the D3 rollout")
    wait_until(lambda: _rollout(url).get("phase") == "soaking", what="wave 1 soaking on D3")
    r = _rollout(url)
    assert (r["from_digest"], r["wave"]) == (D1, 1)
    assert {n: p["from_digest"] for n, p in r["sites"].items()} == dict.fromkeys(SITES, D1)
    assert fleet["site-a"].serving == D3
    for n in ("site-b", "site-c"):  # pending: still on D1, never told D2 or D3
        assert r["sites"][n]["state"] == "pending" and _desired_digest(url, n) == D1
        assert D2 not in fleet[n].seen and D3 not in fleet[n].seen


def test_a_silent_site_past_its_deadline_is_skipped_by_policy(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    _policy(
        repo,
        "    waves: [{sites: 1, progressDeadline: 2s, onTimeout: skip}, {percent: 100}]\n"
        "    soakSeconds: 0.3\n",
    )
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth")
    fleet = {n: agents(hub.url, n) for n in ("site-b", "site-c")}  # site-a is unplugged
    wait_until(lambda: all(a.serving == D1 for a in fleet.values()), what="b and c on D1")
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(hub.url).get("state") == "complete", timeout=60, what="the rollout")
    done = _rollout(hub.url)
    assert done["counts"]["skipped"] == 1 and done["failures"] == 0
    assert done["sites"]["site-a"]["state"] == "skipped"
    assert "progressDeadline 2s" in done["sites"]["site-a"]["message"]
    assert all(a.serving == D2 for a in fleet.values())


def test_a_silent_site_past_its_deadline_fails_within_a_share_budget(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    _policy(
        repo,
        '    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 0.3\n    maxFailures: "50%"\n'
        "    progressDeadline: 2\n    onTimeout: fail\n",
    )
    set_app_image(repo, "housing", REPOSITORY, D1, "build 1")
    hub = start_hub(repo, "--insecure-no-auth")
    fleet = {n: agents(hub.url, n) for n in ("site-b", "site-c")}
    wait_until(lambda: all(a.serving == D1 for a in fleet.values()), what="b and c on D1")
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(hub.url).get("state") == "complete", timeout=60, what="the rollout")
    done = _rollout(hub.url)
    assert (done["failures"], done["failure_budget"], done["maxFailures"]) == (1, 1, "50%")
    assert done["sites"]["site-a"]["state"] == "failed" and _desired_digest(hub.url, "site-a") == D1


def test_paused_in_git_and_the_rollout_commands(
    repo: Path, start_hub: StartHub, agents: Callable[..., FakeAgent]
) -> None:
    url, fleet = _start(
        repo,
        start_hub,
        agents,
        "    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 0.3\n    paused: true\n",
    )
    set_app_image(repo, "housing", REPOSITORY, D2, "build 2")
    wait_until(lambda: _rollout(url).get("phase") == "paused", what="the paused rollout")
    assert _rollout(url)["paused_by"] == "git" and {_desired_digest(url, n) for n in SITES} == {D1}
    refused = _cli("rollout", "resume", "housing", "--hub", url)
    assert refused.returncode == 1 and "paused in Git" in refused.stderr and "Traceback" not in refused.stderr

    # an operator pauses it too: unpaused in Git, it still reaches nobody until resumed
    paused = _cli("rollout", "pause", "housing", "--hub", url)
    assert paused.returncode == 0 and "paused: no new wave starts" in paused.stdout, paused.stderr
    placement = repo / "placements" / "near-edge.yaml"
    placement.write_text(placement.read_text().replace("    paused: true\n", ""))
    git(repo, "commit", "-qam", "unpause")
    head = f"main@sha1:{git(repo, 'rev-parse', 'HEAD')}"
    wait_until(lambda: httpx.get(f"{url}/api/v1/health").json()["revision"] == head, what="the unpause")
    wait_until(lambda: _rollout(url)["paused_by"] == "operator", what="the policy as Git says now")
    r = _rollout(url)
    assert (r["phase"], r["wave"]) == ("paused", 1) and {_desired_digest(url, n) for n in SITES} == {D1}
    assert _cli("rollout", "resume", "housing", "--hub", url).returncode == 0
    wait_until(lambda: _rollout(url).get("state") == "complete", what="the resumed rollout")
    assert all(a.serving == D2 for a in fleet.values())

    # abort and retry, on a rollout site-a refuses
    fleet["site-a"].broken = {D3}
    set_app_image(repo, "housing", REPOSITORY, D3, "build 3")
    wait_until(lambda: _rollout(url).get("phase") == "stopped", what="the D3 rollout to stop")
    aborted = _cli("rollout", "abort", "housing", "--hub", url)
    assert aborted.returncode == 0 and "aborted: every site goes back" in aborted.stdout, aborted.stderr
    assert _rollout(url)["phase"] == "aborted" and {_desired_digest(url, n) for n in SITES} == {D2}
    fleet["site-a"].broken = set()  # it works this time
    retried = _cli("rollout", "retry", "housing", "--hub", url, "--json")
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["done"][0].endswith("retried: 1 site try again")
    wait_until(lambda: _rollout(url).get("state") == "complete", what="the retried rollout")
    assert all(a.serving == D3 for a in fleet.values())
    unknown = _cli("rollout", "pause", "nosuch", "--hub", url)
    assert unknown.returncode == 1 and "no rollout of app 'nosuch'" in unknown.stderr
    assert _cli("rollout", "--help").returncode == 0
