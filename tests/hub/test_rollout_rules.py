"""The rollout rules as pure functions over plain data (no database, no server, no clock): how
many sites each wave reaches, which digest changes start a rollout (and supersede one under way),
which rollouts shape desired states, who is held on the previous app, each site's verdict from
its report, and a rollout stepped through soak, waves, failure and completion."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiedge.contracts import AppHealth, AppStatus, StatusReport
from aiedge.gitops import GitopsRepo, Snapshot, load_repo
from aiedge.gitops.schema import RolloutSpec
from aiedge.hub.rollouts import Holdbacks, Rollout, relevant, start_rollouts, step, targets
from aiedge.hub.rollouts import model as m
from aiedge.hub.rollouts.rules import verdict
from tests.hub.helpers import fleet_files

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
WAVES = "  rollout:\n    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 10\n    maxFailures: 0\n"


def _repo(
    digest: str | None, rollout: str = WAVES, revision: str = "main@sha1:" + "0" * 40, **kw: Any
) -> GitopsRepo:
    return load_repo(Snapshot(revision, fleet_files(digest, rollout=rollout, **kw)))


def _report(
    site: str, digest: str | None, health: AppHealth, told: str | None = None, **app: Any
) -> StatusReport:
    apps = [AppStatus(name="housing", digest=digest, health=health, **app)]
    return StatusReport(site=site, desired_digest=told, apps=apps, time=T0)


def _started(old: str = D1, new: str = D2, rollout: str = WAVES) -> Rollout:
    (r,) = start_rollouts(_repo(old, rollout), _repo(new, rollout, revision="main@sha1:" + "1" * 40), [], T0)
    r.id = 1
    return r


@pytest.mark.parametrize(
    ("waves", "n", "expected"),
    [
        ([{"sites": 1}, {"percent": 100}], 3, [1, 3]),
        ([{"percent": 10}, {"percent": 50}, {"percent": 100}], 3, [1, 2, 3]),  # rounded up
        ([{"sites": 5}, {"percent": 100}], 3, [3, 3]),  # capped at the sites there are
        ([{"sites": 2}, {"percent": 10}, {"percent": 100}], 10, [2, 2, 10]),  # never backwards
        ([{"percent": 100}], 0, [0]),
    ],
)
def test_targets_count_sites_reached_by_each_wave(
    waves: list[dict[str, float]], n: int, expected: list[int]
) -> None:
    assert targets(RolloutSpec.model_validate({"waves": waves}), n) == expected


def test_a_changed_digest_starts_a_rollout_reaching_wave_one() -> None:
    r = _started()
    assert (r.placement, r.app, r.from_digest, r.to_digest, r.state, r.wave) == (
        "near-edge", "housing", D1, D2, m.PROGRESSING, 0,
    )  # fmt: skip
    assert r.sites == ["site-a", "site-b", "site-c"]
    assert {n: p.state for n, p in r.progress.items()} == {
        "site-a": m.UPDATING,
        "site-b": m.PENDING,
        "site-c": m.PENDING,
    }
    assert r.from_app.digest == D1 and r.revision == "main@sha1:" + "1" * 40


@pytest.mark.parametrize(
    ("old", "new", "rollout"),
    [
        (None, D2, WAVES),  # a first build has nothing to roll back to
        (D1, D1, WAVES),  # nothing changed
        (D1, D2, ""),  # no rollout: all at once
    ],
)
def test_no_rollout_without_a_previous_digest_a_change_or_a_policy(
    old: str | None, new: str, rollout: str
) -> None:
    assert start_rollouts(_repo(old, rollout), _repo(new, rollout), [], T0) == []
    assert start_rollouts(None, _repo(new, rollout), [], T0) == []


def test_a_new_digest_supersedes_the_rollout_under_way_and_keeps_its_previous_app() -> None:
    first = _started(D1, D2)
    (second,) = start_rollouts(_repo(D2), _repo(D3), [first], T0 + timedelta(seconds=5))
    assert first.state == m.SUPERSEDED and first.updated_at == T0 + timedelta(seconds=5)
    assert (second.from_digest, second.to_digest) == (D1, D3)  # the sites not moved are still on D1


def test_relevant_takes_the_newest_rollout_per_app_while_its_digest_is_current() -> None:
    old = _started(D1, D2)
    old.id, old.state = 1, m.FAILED
    new = _started(D2, D3)
    new.id = 2
    assert relevant([new, old], _repo(D3)) == [new]
    assert relevant([new, old], _repo(D2)) == []  # the newest for the app is not for this digest
    done = _started(D2, D3)
    done.state = m.COMPLETE
    assert relevant([done], _repo(D3)) == []
    assert relevant([new], _repo(D3, rollout="", sites={"site-a": {"tier": "near-edge"}})) == [new]


def test_holdbacks_keep_sites_not_on_the_new_digest_on_the_previous_app() -> None:
    r = _started()
    r.progress["site-c"].state = m.SITE_FAILED
    held = Holdbacks([r])
    repo = _repo(D2)
    assert held.sites == {"site-a", "site-b", "site-c"}
    assert [a.digest for a in held.apps_for(repo, "site-a")] == [D2]
    assert [a.digest for a in held.apps_for(repo, "site-b")] == [D1]  # pending
    assert [a.digest for a in held.apps_for(repo, "site-c")] == [D1]  # failed, rolled back


def test_verdict_from_a_sites_report() -> None:
    r = _started()
    assert verdict(None, r, "x") == ("waiting", "")
    assert verdict(_report("site-a", D2, AppHealth.HEALTHY), r, "x") == ("healthy", "")
    result, why = verdict(_report("site-a", D2, AppHealth.DEGRADED, message="boom"), r, "x")
    assert result == "failed" and why == f"degraded on {D2}: boom"
    # still on the old digest, told the new state, nothing wrong yet: waiting
    assert verdict(_report("site-a", D1, AppHealth.HEALTHY, told="x"), r, "x")[0] == "waiting"
    # failed while told the new desired state
    assert verdict(_report("site-a", None, AppHealth.FAILED, told="x", message="gone"), r, "x") == (
        "failed",
        "gone",
    )
    # failed on something else, before being told: not this rollout's failure
    assert verdict(_report("site-a", None, AppHealth.FAILED, told="old"), r, "x")[0] == "waiting"


def test_step_soaks_moves_waves_and_completes() -> None:
    r = _started()
    digests = dict.fromkeys(r.sites, "x")
    healthy = {n: (T0, _report(n, D2, AppHealth.HEALTHY, told="x")) for n in r.sites}
    assert step(r, {}, digests, T0) is False and r.progress["site-a"].state == m.UPDATING
    assert step(r, healthy, digests, T0) is False
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.SOAKING, T0)
    step(r, healthy, digests, T0 + timedelta(seconds=5))  # still healthy: keeps soaking
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.SOAKING, T0)
    # healthy for soakSeconds: wave 2 reaches the other two sites
    assert step(r, healthy, digests, T0 + timedelta(seconds=10)) is True
    assert r.wave == 1 and [r.progress[n].state for n in r.sites] == [m.HEALTHY, m.UPDATING, m.UPDATING]
    step(r, healthy, digests, T0 + timedelta(seconds=11))
    step(r, healthy, digests, T0 + timedelta(seconds=21))
    assert r.state == m.COMPLETE and all(p.state == m.HEALTHY for p in r.progress.values())


def test_step_a_site_that_stops_being_healthy_while_soaking_starts_again() -> None:
    r = _started()
    digests = dict.fromkeys(r.sites, "x")
    step(r, {"site-a": (T0, _report("site-a", D2, AppHealth.HEALTHY))}, digests, T0)
    step(r, {"site-a": (T0, _report("site-a", D1, AppHealth.HEALTHY))}, digests, T0 + timedelta(seconds=1))
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.UPDATING, None)


def test_step_more_failures_than_allowed_stops_the_rollout() -> None:
    r = _started()
    digests = dict.fromkeys(r.sites, "x")
    bad = {"site-a": (T0, _report("site-a", D2, AppHealth.DEGRADED, message="wrong answer"))}
    assert step(r, bad, digests, T0) is True
    assert r.state == m.FAILED and r.progress["site-a"].state == m.SITE_FAILED
    assert r.progress["site-a"].message.endswith("wrong answer")
    assert r.progress["site-b"].state == m.PENDING  # never reached


def test_step_failures_within_the_budget_let_the_rollout_go_on() -> None:
    r = _started(rollout=WAVES.replace("maxFailures: 0", "maxFailures: 1"))
    digests = dict.fromkeys(r.sites, "x")
    step(r, {"site-a": (T0, _report("site-a", D2, AppHealth.FAILED))}, digests, T0)
    assert r.state == m.PROGRESSING and r.wave == 1
    assert [r.progress[n].state for n in r.sites] == [m.SITE_FAILED, m.UPDATING, m.UPDATING]
