"""A site's row in the fleet view: its status (healthy, progressing, degraded, unknown,
never-seen) from its last report compared with what it should run."""

from __future__ import annotations

from datetime import datetime

from aiedge.contracts import AppHealth, DesiredState, SiteStatus, SiteSummary, StatusReport


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
