"""A site's row in the fleet view: its status (healthy, progressing, degraded, unknown,
never-seen) from its last report compared with what it should run."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiedge.contracts import AppHealth, DesiredState, SiteStatus, SiteSummary, StatusReport
from aiedge.hub.revision import Revision


def site_status(
    desired: DesiredState | None,
    seen: tuple[datetime, StatusReport] | None,
    now: datetime,
    stale_after: float,
) -> SiteStatus:
    if seen is None:
        return SiteStatus.NEVER_SEEN
    last_seen, report = seen
    if (now - last_seen).total_seconds() > stale_after:
        return SiteStatus.UNKNOWN
    if any(a.health in (AppHealth.FAILED, AppHealth.DEGRADED) for a in report.apps):
        return SiteStatus.DEGRADED
    converged = desired is not None and {(a.name, a.digest) for a in report.apps} == {
        (a.name, a.digest) for a in desired.apps
    }
    if converged and all(a.health is AppHealth.HEALTHY for a in report.apps):
        return SiteStatus.HEALTHY
    if report.last_error:
        return SiteStatus.DEGRADED
    return SiteStatus.PROGRESSING


def site_summary(
    name: str,
    labels: dict[str, str],
    desired: DesiredState | None,
    seen: tuple[datetime, StatusReport] | None,
    now: datetime,
    stale_after: float,
    declared_age_recipient: str | None = None,
) -> SiteSummary:
    report = seen[1] if seen else None
    return SiteSummary(
        name=name,
        labels=labels,
        status=site_status(desired, seen, now, stale_after),
        last_seen=seen[0] if seen else None,
        desired_revision=desired.revision if desired else None,
        observed_revision=report.observed_revision if report else None,
        apps=list(report.apps) if report else [],
        last_error=report.last_error if report else None,
        age_recipient=report.age_recipient if report else None,
        declared_age_recipient=declared_age_recipient,
        link=report.link if report else None,
        facts=report.facts if report else None,
    )


class Summaries:
    """Every site's summary at one revision, kept from one read to the next: a site's summary is
    built again only when what it is made of changed (its report, its desired state, its labels,
    its declared recipient, whether it went stale); when only ``last_seen`` moved (each poll
    moves it) the kept one is copied with the new time. The alerts read all 10,000 sites of a big
    fleet every 10 s, and building each summary anew held the GIL for 0.1 s each time, a stall
    for every request. Safe from several threads: each read builds its own table and the last
    one to finish is kept."""

    def __init__(self) -> None:
        # site -> (desired, report, labels, recipient, stale, summary): compared by identity
        self._kept: dict[str, tuple[object, object, object, object, bool, SiteSummary]] = {}

    def build(
        self,
        revision: Revision,
        reports: dict[str, tuple[datetime, StatusReport]],
        now: datetime,
        stale_after: float,
    ) -> list[SiteSummary]:
        kept = self._kept
        fresh: dict[str, tuple[object, object, object, object, bool, SiteSummary]] = {}
        out: list[SiteSummary] = []
        oldest = now - timedelta(seconds=stale_after)  # a site last seen before it is unknown
        for name, site in revision.repo.sites.items():
            desired = revision.desired(name)[0]
            seen = reports.get(name)
            last_seen, report = seen if seen is not None else (None, None)
            stale = last_seen is not None and last_seen < oldest
            labels, recipient = site.metadata.labels, site.spec.age_recipient
            hit = kept.get(name)
            if (
                hit is not None
                and hit[0] is desired
                and hit[1] is report
                and hit[2] is labels
                and hit[3] is recipient
                and hit[4] is stale
            ):
                summary = hit[5]
                if summary.last_seen != last_seen:
                    summary = summary.model_copy(update={"last_seen": last_seen})
            else:
                summary = site_summary(name, labels, desired, seen, now, stale_after, recipient)
            fresh[name] = (desired, report, labels, recipient, stale, summary)
            out.append(summary)
        self._kept = fresh
        return out
