"""The rollout rules as pure functions over plain data (no database, no server, no clock): how
many sites each wave reaches and how many may fail (a count or a share), which changes start a
rollout (a new digest, smoke test or config) and where each site starts from (what it runs),
which rollouts shape desired states, who is held back, each site's verdict from the typed reason
of its report (never its message), progress deadlines (skip or fail), pause, and the operator's
pause/resume/abort/retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aiedge.contracts import AppHealth, AppReason, AppStatus, DesiredApp, Progress, StatusReport
from aiedge.gitops import GitopsRepo, Snapshot, load_repo
from aiedge.gitops.desired import desired_app
from aiedge.gitops.schema_rollout import RolloutSpec
from aiedge.hub.rollouts import (
    Holdbacks,
    Rollout,
    RolloutCommandRefused,
    apply,
    attempt_key,
    relevant,
    start_rollouts,
    step,
    targets,
)
from aiedge.hub.rollouts import model as m
from aiedge.hub.rollouts.rules import verdict
from tests.hub.helpers import fleet_files

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")
WAVES = "  rollout:\n    waves: [{sites: 1}, {percent: 100}]\n    soakSeconds: 10\n    maxFailures: 0\n"
SITES = ["site-a", "site-b", "site-c"]
TEST_B = '  test:\n    request: {"instances": [[1]]}\n    response: {"predictions": [2]}\n'


def _repo(
    digest: str | None, rollout: str = WAVES, revision: str = "main@sha1:" + "0" * 40, **kw: Any
) -> GitopsRepo:
    return load_repo(Snapshot(revision, fleet_files(digest, rollout=rollout, **kw)))


def _app(repo: GitopsRepo) -> DesiredApp:
    found = desired_app(repo.apps["housing"])
    assert found is not None
    return found


def _running(repo: GitopsRepo, sites: list[str] = SITES) -> dict[str, dict[str, DesiredApp]]:
    return {s: {"housing": _app(repo)} for s in sites}


def _report(
    site: str,
    digest: str | None,
    health: AppHealth,
    reason: AppReason = AppReason.UNKNOWN,
    told: str | None = None,
    **app: Any,
) -> StatusReport:
    apps = [AppStatus(name="housing", digest=digest, health=health, reason=reason, **app)]
    return StatusReport(site=site, desired_digest=told, apps=apps, time=T0)


def _ready(site: str, digest: str) -> tuple[datetime, StatusReport]:
    return T0, _report(site, digest, AppHealth.HEALTHY, AppReason.READY, told="x")


def _started(old: str = D1, new: str = D2, rollout: str = WAVES, **kw: Any) -> Rollout:
    before = _repo(old, rollout)
    after = _repo(new, rollout, revision="main@sha1:" + "1" * 40, **kw)
    (r,) = start_rollouts(before, after, [], _running(before), {}, T0)
    r.id = 1
    return r


DIGESTS = dict.fromkeys(SITES, "x")


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


@pytest.mark.parametrize(
    ("budget", "sites", "allowed"),
    [(0, 10, 0), (2, 10, 2), ("10%", 10, 1), ("10%", 9, 0), ("50%", 3, 1), ("100%", 7, 7), ("0%", 5, 0)],
)
def test_max_failures_is_a_count_or_a_share_rounded_down(budget: int | str, sites: int, allowed: int) -> None:
    spec = RolloutSpec.model_validate({"waves": [{"percent": 100}], "maxFailures": budget})
    assert spec.failure_budget(sites) == allowed


def test_deadlines_per_wave_or_for_the_rollout() -> None:
    spec = RolloutSpec.model_validate(
        {
            "waves": [{"sites": 1, "progressDeadline": "2m", "onTimeout": "skip"}, {"percent": 100}],
            "progressDeadline": 30,
        }
    )
    assert [spec.deadline(i) for i in (0, 1)] == [(120.0, "skip"), (30.0, "fail")]
    assert RolloutSpec.model_validate({"waves": [{"percent": 100}]}).deadline(0) == (None, "fail")


def test_a_changed_digest_starts_a_rollout_reaching_wave_one() -> None:
    r = _started()
    assert (r.placement, r.app, r.from_digest, r.to_digest, r.state, r.wave) == (
        "near-edge", "housing", D1, D2, m.PROGRESSING, 0,
    )  # fmt: skip
    assert r.sites == SITES
    assert {n: p.state for n, p in r.progress.items()} == {
        "site-a": m.UPDATING, "site-b": m.PENDING, "site-c": m.PENDING,
    }  # fmt: skip
    assert r.progress["site-a"].reached == T0 and r.progress["site-b"].reached is None
    assert r.from_app.digest == D1 and r.revision == "main@sha1:" + "1" * 40
    assert {s: a.digest for s, a in r.from_apps.items() if a} == dict.fromkeys(SITES, D1)
    assert r.attempt == attempt_key(_app(_repo(D2)))


def test_a_new_test_on_the_same_digest_is_a_new_attempt() -> None:
    r = _started(D1, D1, app_extra=TEST_B)
    assert (r.from_digest, r.to_digest) == (D1, D1)
    assert r.attempt != attempt_key(_app(_repo(D1)))
    assert r.to_digest == D1 and _app(_repo(D1, app_extra=TEST_B)).smoke_test is not None


@pytest.mark.parametrize(
    ("old", "new", "rollout"),
    [
        (None, D2, WAVES),  # a first build has nothing to roll back to
        (D1, D1, WAVES),  # nothing changed
        (D1, D2, ""),  # no rollout: all at once
    ],
)
def test_no_rollout_without_a_previous_version_a_change_or_a_policy(
    old: str | None, new: str, rollout: str
) -> None:
    assert start_rollouts(_repo(old, rollout), _repo(new, rollout), [], {}, {}, T0) == []
    assert start_rollouts(None, _repo(new, rollout), [], {}, {}, T0) == []


def test_a_paused_placement_starts_its_rollout_reaching_nobody() -> None:
    r = _started(rollout=WAVES + "    paused: true\n")
    assert {p.state for p in r.progress.values()} == {m.PENDING}
    assert step(r, {}, DIGESTS, T0) is False  # still paused: nobody reached


def test_a_new_version_supersedes_the_rollout_and_starts_from_what_each_site_runs() -> None:
    first = _started(D1, D2)
    first.state = m.FAILED  # site-a failed on D2 and went back; b and c never left D1
    first.progress["site-a"].state = m.SITE_FAILED
    # what the hub tells each site now, and what each says it serves
    running = {"site-a": {"housing": _app(_repo(D1))}, **{s: {"housing": _app(_repo(D1))} for s in SITES[1:]}}
    serving: dict[str, dict[str, str | None]] = {s: {"housing": D1} for s in SITES}
    later = T0 + timedelta(seconds=5)
    (second,) = start_rollouts(_repo(D2), _repo(D3), [first], running, serving, later)
    assert first.state == m.SUPERSEDED and first.updated_at == later
    assert (second.from_digest, second.to_digest) == (D1, D3)  # not from the bad D2
    held = Holdbacks([second])
    assert [a.digest for a in held.apps_for(_repo(D3), "site-b")] == [D1]  # pending: never skips a wave
    assert [a.digest for a in held.apps_for(_repo(D3), "site-a")] == [D3]  # wave 1


def test_a_site_told_the_superseded_version_starts_from_what_it_serves() -> None:
    first = _started(D1, D2)  # site-a is told D2 but still serves D1
    running = {"site-a": {"housing": _app(_repo(D2))}, "site-b": {"housing": _app(_repo(D1))}}
    serving: dict[str, dict[str, str | None]] = {"site-a": {"housing": D1}, "site-c": {"housing": None}}
    (second,) = start_rollouts(_repo(D2), _repo(D3), [first], running, serving, T0)
    prev = {s: a.digest if a else None for s, a in second.from_apps.items()}
    assert prev == {"site-a": D1, "site-b": D1, "site-c": None}  # site-c ran nothing of it
    held = Holdbacks([second])
    assert held.apps_for(_repo(D3), "site-c") == []  # stays without it until its wave


def test_relevant_takes_the_newest_rollout_per_app_while_git_asks_for_it() -> None:
    old = _started(D1, D2)
    old.id, old.state = 1, m.FAILED
    new = _started(D2, D3)
    new.id = 2
    assert relevant([new, old], _repo(D3)) == [new]
    assert relevant([new, old], _repo(D2)) == []  # the newest for the app is not for this version
    assert relevant([new], _repo(D3, app_extra=TEST_B)) == []  # another test: another attempt
    assert relevant([new], _repo(D3, rollout="")) == []  # no rollout policy any more
    for state in (m.COMPLETE, m.SUPERSEDED):
        new.state = state
        assert relevant([new], _repo(D3)) == []
    for state in (m.PROGRESSING, m.FAILED, m.ABORTED):
        new.state = state
        assert relevant([new], _repo(D3)) == [new]


def test_holdbacks_keep_sites_not_on_the_new_version_where_they_were() -> None:
    r = _started()
    r.progress["site-c"].state = m.SITE_FAILED
    held = Holdbacks([r])
    repo = _repo(D2)
    assert held.sites == set(SITES)
    assert [a.digest for a in held.apps_for(repo, "site-a")] == [D2]
    assert [a.digest for a in held.apps_for(repo, "site-b")] == [D1]  # pending
    assert [a.digest for a in held.apps_for(repo, "site-c")] == [D1]  # failed, sent back
    r.state = m.ABORTED
    assert [a.digest for a in Holdbacks([r]).apps_for(repo, "site-a")] == [D1]  # aborted: all back


# every (reason, health, digest) an agent may report, and what the rollout makes of it
NEW, OLD = D2, D1
VERDICTS = [
    (AppReason.READY, AppHealth.HEALTHY, NEW, None, "healthy"),
    (AppReason.READY, AppHealth.HEALTHY, OLD, None, "waiting"),
    (AppReason.PROGRESSING, AppHealth.DEGRADED, NEW, None, "waiting"),  # issue 11 point 2
    (AppReason.PROGRESSING, AppHealth.PROGRESSING, OLD, NEW, "waiting"),
    (AppReason.DOWNLOADING, AppHealth.DEGRADED, OLD, NEW, "waiting"),
    (AppReason.DEFERRED, AppHealth.DEGRADED, OLD, NEW, "waiting"),
    (AppReason.FETCH_FAILED, AppHealth.DEGRADED, OLD, NEW, "waiting"),  # retried: deadlines decide
    (AppReason.SMOKE_TEST_FAILED, AppHealth.DEGRADED, OLD, NEW, "failed"),
    (AppReason.SIGNATURE_INVALID, AppHealth.DEGRADED, OLD, NEW, "failed"),
    (AppReason.IMAGE_NOT_FOUND, AppHealth.FAILED, None, NEW, "failed"),
    (AppReason.START_FAILED, AppHealth.FAILED, NEW, None, "failed"),
    (AppReason.SMOKE_TEST_FAILED, AppHealth.DEGRADED, OLD, D3, "waiting"),  # another version's failure
    # an agent older than reasons: its health alone (never its message)
    (AppReason.UNKNOWN, AppHealth.HEALTHY, NEW, None, "healthy"),
    (AppReason.UNKNOWN, AppHealth.DEGRADED, NEW, None, "failed"),
    (AppReason.UNKNOWN, AppHealth.DEGRADED, OLD, None, "waiting"),
    (AppReason.UNKNOWN, AppHealth.FAILED, None, None, "failed"),
]


@pytest.mark.parametrize(("reason", "health", "digest", "target", "expected"), VERDICTS)
def test_verdict_reads_the_reason_never_the_message(
    reason: AppReason, health: AppHealth, digest: str | None, target: str | None, expected: str
) -> None:
    r = _started()
    for message in ("", "SmokeTestFailed: words that must not matter", "Ready: serving"):
        report = _report("site-a", digest, health, reason, told="x", message=message, target_digest=target)
        assert verdict(report, r, "x")[0] == expected, message


def test_verdict_without_a_report_or_before_being_told() -> None:
    r = _started()
    assert verdict(None, r, "x") == ("waiting", "")
    # failed on something else, before being told the new desired state: not this rollout's
    old = _report("site-a", None, AppHealth.FAILED, told="old")
    assert verdict(old, r, "x")[0] == "waiting"
    why = verdict(_report("site-a", D2, AppHealth.DEGRADED, message="boom"), r, "x")[1]
    assert why == f"degraded on {D2}: boom"


def test_step_soaks_moves_waves_and_completes() -> None:
    r = _started()
    healthy = {n: _ready(n, D2) for n in SITES}
    assert step(r, {}, DIGESTS, T0) is False and r.progress["site-a"].state == m.UPDATING
    assert step(r, healthy, DIGESTS, T0) is False
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.SOAKING, T0)
    step(r, healthy, DIGESTS, T0 + timedelta(seconds=5))  # still healthy: keeps soaking
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.SOAKING, T0)
    # healthy for soakSeconds: wave 2 reaches the other two sites
    assert step(r, healthy, DIGESTS, T0 + timedelta(seconds=10)) is True
    assert r.wave == 1 and [r.progress[n].state for n in SITES] == [m.HEALTHY, m.UPDATING, m.UPDATING]
    assert r.progress["site-b"].reached == T0 + timedelta(seconds=10)
    step(r, healthy, DIGESTS, T0 + timedelta(seconds=11))
    step(r, healthy, DIGESTS, T0 + timedelta(seconds=21))
    assert r.state == m.COMPLETE and all(p.state == m.HEALTHY for p in r.progress.values())
    assert step(r, healthy, DIGESTS, T0 + timedelta(seconds=30)) is False  # complete: nothing moves


def test_step_work_under_way_is_never_a_failure() -> None:
    r = _started(rollout=WAVES.replace("soakSeconds: 10", "soakSeconds: 0"))
    for reason, health in [
        (AppReason.DOWNLOADING, AppHealth.DEGRADED),
        (AppReason.PROGRESSING, AppHealth.DEGRADED),
        (AppReason.DEFERRED, AppHealth.DEGRADED),
    ]:
        progress = Progress(done_bytes=10, total_bytes=150_000_000)
        rep = _report("site-a", D2, health, reason, told="x", message=f"{reason}: ...", progress=progress)
        step(r, {"site-a": (T0, rep)}, DIGESTS, T0 + timedelta(hours=1))
        assert (r.state, r.progress["site-a"].state) == (m.PROGRESSING, m.UPDATING), reason
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0 + timedelta(hours=1))
    assert r.wave == 1


def test_step_a_site_that_stops_being_healthy_while_soaking_starts_again() -> None:
    r = _started()
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0)
    step(r, {"site-a": _ready("site-a", D1)}, DIGESTS, T0 + timedelta(seconds=1))
    assert (r.progress["site-a"].state, r.progress["site-a"].since) == (m.UPDATING, None)


def test_step_more_failures_than_allowed_stops_the_rollout() -> None:
    r = _started()
    bad = _report("site-a", D1, AppHealth.DEGRADED, AppReason.SMOKE_TEST_FAILED, told="x", message="wrong")
    assert step(r, {"site-a": (T0, bad)}, DIGESTS, T0) is True
    assert r.state == m.FAILED and r.progress["site-a"].state == m.SITE_FAILED
    assert r.progress["site-a"].message == "wrong"
    assert r.progress["site-b"].state == m.PENDING  # never reached


def test_step_failures_within_a_percentage_budget_let_the_rollout_go_on() -> None:
    r = _started(rollout=WAVES.replace("maxFailures: 0", 'maxFailures: "50%"'))
    bad = _report("site-a", None, AppHealth.FAILED, AppReason.START_FAILED, told="x")
    step(r, {"site-a": (T0, bad)}, DIGESTS, T0)
    assert r.state == m.PROGRESSING and r.wave == 1
    assert [r.progress[n].state for n in SITES] == [m.SITE_FAILED, m.UPDATING, m.UPDATING]
    step(r, {"site-b": (T0, bad)}, DIGESTS, T0)  # 2 of 3 failed: over 50% (1)
    assert r.state == m.FAILED


@pytest.mark.parametrize(("policy", "state"), [("skip", m.SKIPPED), ("fail", m.SITE_FAILED)])
def test_a_silent_site_past_its_progress_deadline_is_counted_by_policy(policy: str, state: str) -> None:
    rollout = (
        WAVES.replace("maxFailures: 0", "maxFailures: 1")
        + f"    progressDeadline: 60\n    onTimeout: {policy}\n"
    )
    r = _started(rollout=rollout)
    step(r, {}, DIGESTS, T0 + timedelta(seconds=59))
    assert r.progress["site-a"].state == m.UPDATING
    moved = step(r, {}, DIGESTS, T0 + timedelta(seconds=60))
    p = r.progress["site-a"]
    assert p.state == state and "progressDeadline 60s" in p.message and "no report yet" in p.message
    assert r.wave == 1 and moved  # counted as done or as a failure within the budget: wave 2 starts
    assert [a.digest for a in Holdbacks([r]).apps_for(_repo(D2), "site-a")] == [
        D2 if policy == "skip" else D1
    ]
    if policy == "skip":  # still watched: healthy later, it soaks like the others
        step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0 + timedelta(seconds=61))
        assert r.progress["site-a"].state == m.SOAKING


def test_a_deadline_counts_from_when_the_site_was_reached() -> None:
    r = _started(rollout=WAVES + "    progressDeadline: 60\n")
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0 + timedelta(seconds=50))
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0 + timedelta(seconds=60))  # soaked
    assert r.wave == 1
    step(r, {}, DIGESTS, T0 + timedelta(seconds=119))  # b and c reached at 60 s: not late yet
    assert r.state == m.PROGRESSING and r.progress["site-b"].state == m.UPDATING
    step(r, {}, DIGESTS, T0 + timedelta(seconds=120))
    assert r.state == m.FAILED and r.progress["site-b"].state == m.SITE_FAILED


def test_pause_holds_the_next_wave_and_resume_lets_it_go() -> None:
    r = _started(rollout=WAVES.replace("soakSeconds: 10", "soakSeconds: 0"))
    assert apply("pause", r, T0).endswith("paused: no new wave starts until `aiedge rollout resume`")
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0)
    assert r.progress["site-a"].state == m.HEALTHY and r.wave == 0  # reached sites go on
    with pytest.raises(RolloutCommandRefused, match="is progressing, not paused"):
        apply("resume", _started(), T0)
    apply("resume", r, T0)
    step(r, {"site-a": _ready("site-a", D2)}, DIGESTS, T0)
    assert r.wave == 1


def test_abort_sends_everyone_back_and_retry_goes_on() -> None:
    r = _started()
    bad = _report("site-a", D1, AppHealth.DEGRADED, AppReason.SMOKE_TEST_FAILED, told="x")
    step(r, {"site-a": (T0, bad)}, DIGESTS, T0)
    assert r.state == m.FAILED
    with pytest.raises(RolloutCommandRefused, match="nothing to pause"):
        apply("pause", r, T0)
    assert apply("retry", r, T0 + timedelta(seconds=1)).endswith("retried: 1 site try again")
    assert r.state == m.PROGRESSING and r.progress["site-a"] == m.SiteProgress(
        m.UPDATING, reached=T0 + timedelta(seconds=1)
    )
    assert apply("abort", r, T0).endswith("aborted: every site goes back to what it ran before")
    assert r.state == m.ABORTED and step(r, {}, DIGESTS, T0) is False
    with pytest.raises(RolloutCommandRefused, match="nothing to abort"):
        apply("abort", r, T0)
    apply("retry", r, T0)
    assert r.state == m.PROGRESSING
    r.state = m.COMPLETE
    with pytest.raises(RolloutCommandRefused, match="nothing to retry"):
        apply("retry", r, T0)
    with pytest.raises(RolloutCommandRefused, match="unknown action"):
        apply("explode", r, T0)


@pytest.mark.parametrize(("policy", "state"), [("skip", m.SKIPPED), ("fail", m.SITE_FAILED)])
def test_a_site_deferring_past_its_progress_deadline_is_counted_by_policy(policy: str, state: str) -> None:
    # a maintenance window or a hold at the site (issue 20): in progress until the deadline decides
    rollout = (
        WAVES.replace("maxFailures: 0", "maxFailures: 1")
        + f"    progressDeadline: 60\n    onTimeout: {policy}\n"
    )
    r = _started(rollout=rollout)
    why = "Deferred: outside its maintenance windows; the next opens 2026-12-02 02:00 UTC"
    deferred = _report("site-a", D1, AppHealth.PROGRESSING, AppReason.DEFERRED, told="x", message=why)
    step(r, {"site-a": (T0, deferred)}, DIGESTS, T0 + timedelta(seconds=59))
    assert (r.state, r.progress["site-a"].state) == (m.PROGRESSING, m.UPDATING)
    step(r, {"site-a": (T0, deferred)}, DIGESTS, T0 + timedelta(seconds=60))
    assert r.progress["site-a"].state == state and "progressDeadline 60s" in r.progress["site-a"].message
