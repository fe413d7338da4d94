"""The hub's store over a real database (SQLite and PostgreSQL): a unit of work commits as a
whole or not at all, the published fleet state and its generation, desired states written and
read back since a generation, rollouts kept and read back as plain data, status reports, and a
revocation that moves the generation; checked credentials kept until a revocation."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aiedge.contracts import AppHealth, AppStatus, StatusReport
from aiedge.gitops import Snapshot, load_repo
from aiedge.hub.rollouts import apply, start_rollouts
from aiedge.hub.rollouts.model import FAILED, PROGRESSING, SITE_FAILED
from aiedge.hub.store import Store
from tests.hub.helpers import fleet_files

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
WAVES = "  rollout:\n    waves: [{sites: 1}, {percent: 100}]\n"


def test_a_transaction_commits_as_a_whole(store: Store) -> None:
    assert store.fleet_state() == (None, 0)
    with store.transaction() as tx:
        assert tx.lock_fleet().generation == 0
        tx.write_desired({"site-a": ("sha256:a", "[]"), "site-b": ("sha256:b", "[]")}, [])
        tx.publish("main@sha1:1", b"{}", T0)
    assert store.fleet_state() == ("main@sha1:1", 1)
    assert store.fleet_files() == ("main@sha1:1", b"{}", 1)
    assert sorted(store.desired_since(0)) == [("site-a", "sha256:a", "[]"), ("site-b", "sha256:b", "[]")]
    with store.transaction() as tx:
        assert tx.desired_digests() == {"site-a": "sha256:a", "site-b": "sha256:b"}
        tx.write_desired({"site-a": ("sha256:a2", "[1]")}, ["site-b"])
    assert store.desired_since(1) == [("site-a", "sha256:a2", "[1]")]
    with store.transaction() as tx:
        assert tx.desired_digests() == {"site-a": "sha256:a2"}


def test_a_transaction_that_raises_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.write_desired({"site-a": ("sha256:a", "[]")}, [])
        tx.publish("main@sha1:1", b"{}", T0)
        raise RuntimeError("halfway")
    assert store.fleet_state() == (None, 0)
    assert store.desired_since(-1) == []


def test_rollouts_are_kept_as_plain_data(store: Store) -> None:
    old = load_repo(Snapshot("main@sha1:1", fleet_files(D1, rollout=WAVES)))
    new = load_repo(Snapshot("main@sha1:2", fleet_files(D2, rollout=WAVES)))
    (r,) = start_rollouts(old, new, [], {}, {}, T0)
    with store.transaction() as tx:
        tx.add_rollout(r)
    assert r.id is not None
    with store.transaction() as tx:
        (back,) = tx.rollouts((PROGRESSING,))
        assert back == r
        assert tx.any_rollout_in((PROGRESSING,)) and not tx.any_rollout_in((FAILED,))
        back.state, back.wave = FAILED, 1
        back.progress["site-a"].state, back.progress["site-a"].since = SITE_FAILED, T0 + timedelta(seconds=1)
        back.progress["site-a"].message = "SmokeTestFailed: wrong"
        tx.save_rollout(back)
    (failed,) = store.recent_rollouts()
    assert failed == back and failed.progress["site-a"].since == T0 + timedelta(seconds=1)
    (second,) = start_rollouts(old, new, [], {}, {}, T0)
    with store.transaction() as tx:
        tx.add_rollout(second)
    assert [x.id for x in store.recent_rollouts()] == [second.id, r.id]
    assert [x.id for x in store.recent_rollouts(limit=1)] == [second.id]


def test_status_reports(store: Store) -> None:
    def report(site: str, rev: str) -> StatusReport:
        apps = [AppStatus(name="housing", digest=D1, health=AppHealth.HEALTHY)]
        return StatusReport(site=site, observed_revision=rev, apps=apps, time=T0)

    store.save_report(report("site-a", "r1"), T0)
    store.save_reports([("site-a", T0 + timedelta(seconds=1), report("site-a", "r2").model_dump_json())])
    store.save_reports([("site-b", T0, report("site-b", "r1").model_dump_json())])
    seen = store.reports()
    assert {n: (t, r.observed_revision) for n, (t, r) in seen.items()} == {
        "site-a": (T0 + timedelta(seconds=1), "r2"),
        "site-b": (T0, "r1"),
    }
    assert store.report("site-c") is None
    with store.transaction() as tx:
        assert set(tx.reports_of({"site-a", "site-c"})) == {"site-a"}


def test_revoking_a_site_moves_the_generation(store: Store) -> None:
    store.add_join_token("t" * 64, "site-a", T0, T0 + timedelta(hours=1))
    assert store.use_join_token("t" * 64, T0, "c" * 64, "site-a") == "site-a"
    assert store.use_join_token("t" * 64, T0, "d" * 64) is None  # spent
    assert store.site_of_credential("c" * 64) == "site-a"
    assert store.cached_site_of_credential("c" * 64) == "site-a"
    _, before = store.fleet_state()
    assert store.revoke_site("site-a", T0) == 1
    assert store.fleet_state()[1] == before + 1
    assert store.cached_site_of_credential("c" * 64) is None  # forgotten with the generation
    assert store.site_of_credential("c" * 64) is None


def test_live_credentials_are_known_from_the_first_read_and_at_enrolment(store: Store) -> None:
    """A hub started (or restarted) beside thousands of enrolled sites knows every live credential
    from its first read of the fleet state, in one query: the fleet's first polls cost no query
    (nor thread) each. A site enrolled at this hub is known at once; one enrolled at another hub
    on the same database is read once, at its first request."""
    for site, token, cred in (("site-a", "t", "c"), ("site-b", "u", "d")):
        store.add_join_token(token * 64, site, T0, T0 + timedelta(hours=1))
        assert store.use_join_token(token * 64, T0, cred * 64, site) == site
    assert store.revoke_site("site-b", T0) == 1
    other = Store(store.engine)  # a second hub process on the same database, just started
    assert other.cached_site_of_credential("c" * 64) is None  # nothing read yet
    other.fleet_state()  # as a hub does first
    assert other.cached_site_of_credential("c" * 64) == "site-a"
    assert other.cached_site_of_credential("d" * 64) is None  # revoked
    other.add_join_token("v" * 64, "site-c", T0, T0 + timedelta(hours=1))
    assert other.use_join_token("v" * 64, T0, "e" * 64) == "site-c"
    assert other.cached_site_of_credential("e" * 64) == "site-c"  # enrolled here: known at once
    store.add_join_token("w" * 64, "site-d", T0, T0 + timedelta(hours=1))
    assert store.use_join_token("w" * 64, T0, "f" * 64) == "site-d"  # enrolled at the other hub
    assert other.cached_site_of_credential("f" * 64) is None
    assert other.site_of_credential("f" * 64) == "site-d"
    assert other.cached_site_of_credential("f" * 64) == "site-d"
    other.add_join_token("x" * 64, "site-e", T0, T0 - timedelta(hours=1))
    assert other.use_join_token("x" * 64, T0, "g" * 64) is None  # an expired token: no credential
    assert other.cached_site_of_credential("g" * 64) is None


def test_checked_credentials_outlive_generations_that_revoke_nothing(store: Store) -> None:
    """A commit (or a fact, or a rollout step) moves the generation and every site polls again at
    once: its credential is still known, no query each. A revocation, of any site's credential or
    of an operator's token, makes every live credential be read again (in one query) and every
    checked operator token be checked again."""
    store.fleet_state()  # as a hub does first
    for site, token, cred in (("site-a", "t", "c"), ("site-b", "u", "d")):
        store.add_join_token(token * 64, site, T0, T0 + timedelta(hours=1))
        assert store.use_join_token(token * 64, T0, cred * 64, site) == site
        assert store.site_of_credential(cred * 64) == site
    store.operators.add("o" * 64, "alice", "admin", T0)
    assert store.operators.of("o" * 64) is not None
    with store.transaction() as tx:  # a commit: new desired states, a new generation
        tx.lock_fleet()
        tx.write_desired({"site-a": ("sha256:a", "[]")}, [])
        tx.publish("main@sha1:1", b"{}", T0)
    assert store.fleet_state()[1] == 1
    assert store.cached_site_of_credential("c" * 64) == "site-a"
    assert store.cached_site_of_credential("d" * 64) == "site-b"
    assert store.operators.cached("o" * 64) is not None
    assert store.revoke_site("site-b", T0) == 1
    store.fleet_state()
    assert store.cached_site_of_credential("c" * 64) == "site-a"  # the live ones read again, at once
    assert store.cached_site_of_credential("d" * 64) is None
    assert store.operators.cached("o" * 64) is None
    assert store.site_of_credential("d" * 64) is None
    store.fleet_state()  # the same generation: nothing forgotten
    assert store.cached_site_of_credential("c" * 64) == "site-a"
    assert store.operators.of("o" * 64) is not None
    assert store.operators.revoke("alice", T0) == 1
    store.fleet_state()
    assert store.operators.cached("o" * 64) is None
    assert store.operators.of("o" * 64) is None
    assert store.cached_site_of_credential("c" * 64) == "site-a"


def test_transactions_that_lock_the_fleet_run_one_after_the_other(store: Store, tmp_path: Path) -> None:
    """A rollout step and an operator's command both lock the fleet, read a rollout and write it
    back. The second must read what the first wrote: an operator's `resume` that lands while a
    step is reading must not be undone by the step writing back the paused rollout it read."""
    old = load_repo(Snapshot("main@sha1:1", fleet_files(D1, rollout=WAVES)))
    new = load_repo(Snapshot("main@sha1:2", fleet_files(D2, rollout=WAVES)))
    (r,) = start_rollouts(old, new, [], {}, {}, T0)
    r.paused = True
    with store.transaction() as tx:
        tx.add_rollout(r)
    resumed = threading.Event()

    def operator_resumes() -> None:
        with store.transaction() as tx:
            tx.lock_fleet()
            (mine,) = tx.rollouts((PROGRESSING,))
            apply("resume", mine, T0)
            tx.save_rollout(mine)
        resumed.set()

    with store.transaction() as step:
        step.lock_fleet()
        (seen,) = step.rollouts((PROGRESSING,))
        assert seen.paused
        if not store.postgres:  # the write lock is held from lock_fleet on, not from the first write
            probe = sqlite3.connect(tmp_path / "hub.db", timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                probe.execute("BEGIN IMMEDIATE")
            probe.close()
        operator = threading.Thread(target=operator_resumes)
        operator.start()
        assert not resumed.wait(2.0), "the operator's transaction ran inside the step's"
        seen.wave = 1  # the step's own change, written back with the rest of what it read
        step.save_rollout(seen)
    operator.join(timeout=60)
    assert resumed.is_set()
    (after,) = store.recent_rollouts()
    assert after.wave == 1 and not after.paused
