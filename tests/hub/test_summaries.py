"""The fleet view's site summaries, kept from one read to the next (`aiedge.hub.summary.Summaries`):
the same answers as building every summary anew, at every read, whatever changed in between; a
summary is built again only when what it is made of changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiedge.contracts import AppHealth, AppStatus, SiteStatus, SiteSummary, StatusReport
from aiedge.gitops import Snapshot, load_repo
from aiedge.hub.revision import Revision
from aiedge.hub.summary import Summaries, site_summary
from tests.hub.helpers import fleet_files

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
STALE = 90.0


def _report(site: str, digest: str, health: AppHealth = AppHealth.HEALTHY) -> StatusReport:
    apps = [AppStatus(name="housing", digest=digest, health=health)]
    return StatusReport(site=site, observed_revision="r", apps=apps, time=T0)


def _anew(
    rev: Revision, reports: dict[str, tuple[datetime, StatusReport]], now: datetime
) -> list[SiteSummary]:
    return [
        site_summary(
            n, s.metadata.labels, rev.desired(n)[0], reports.get(n), now, STALE, s.spec.age_recipient
        )
        for n, s in rev.repo.sites.items()
    ]


def test_kept_summaries_answer_as_summaries_built_anew() -> None:
    rev = Revision(load_repo(Snapshot("main@sha1:1", fleet_files(D1))), T0, {})
    kept = Summaries()
    a, b = _report("site-a", D1), _report("site-b", D1, AppHealth.DEGRADED)
    reports = {"site-a": (T0, a), "site-b": (T0, b)}
    first = kept.build(rev, reports, T0, STALE)
    assert first == _anew(rev, reports, T0)
    assert [s.status for s in first] == [SiteStatus.HEALTHY, SiteStatus.DEGRADED, SiteStatus.NEVER_SEEN]

    # nothing changed: the very same objects
    again = kept.build(rev, reports, T0 + timedelta(seconds=10), STALE)
    assert all(x is y for x, y in zip(first, again, strict=True))

    # site-a polled (last_seen moved), site-b posted a new report, site-c reported for the first time
    later = T0 + timedelta(seconds=30)
    reports = {
        "site-a": (later, a),
        "site-b": (later, _report("site-b", D1)),
        "site-c": (later, _report("site-c", D1)),
    }
    moved = kept.build(rev, reports, later, STALE)
    assert moved == _anew(rev, reports, later)
    assert moved[0].last_seen == later and first[0].last_seen == T0  # a copy: the kept one unchanged
    assert [s.status for s in moved] == [SiteStatus.HEALTHY] * 3

    # time alone turns a silent site unknown, though nothing it is made of changed
    quiet = {
        "site-a": (later, a),
        "site-b": reports["site-b"],
        "site-c": (later + timedelta(seconds=60), reports["site-c"][1]),
    }
    late = later + timedelta(seconds=STALE + 1)
    stale = kept.build(rev, quiet, late, STALE)
    assert stale == _anew(rev, quiet, late)
    assert [s.status for s in stale] == [SiteStatus.UNKNOWN, SiteStatus.UNKNOWN, SiteStatus.HEALTHY]

    # a new revision: the desired states moved on, the same reports are now behind
    rev2 = Revision(load_repo(Snapshot("main@sha1:2", fleet_files(D2))), late, {})
    fresh = {n: (late, r) for n, (_, r) in quiet.items()}
    behind = kept.build(rev2, fresh, late, STALE)
    assert behind == _anew(rev2, fresh, late)
    assert [s.status for s in behind] == [SiteStatus.PROGRESSING] * 3
    assert {s.desired_revision for s in behind} == {"main@sha1:2"}
