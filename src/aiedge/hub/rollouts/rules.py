"""The rules of progressive rollouts (a Placement's ``rollout``), as pure functions over plain data
(:mod:`aiedge.hub.rollouts.model`): which sites get the new digest (wave by wave), when the next
wave starts (every site of the waves so far healthy on the new digest for ``soakSeconds``), and when
the rollout stops (more than ``maxFailures`` sites degraded or refusing it; failed sites go back to
the previous digest).

No database, no clock, no HTTP: :mod:`aiedge.hub.fleet` reads the rollouts and reports from the
store, calls these rules, and writes back what they changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from aiedge.contracts import AppHealth, DesiredApp, StatusReport
from aiedge.gitops import GitopsRepo
from aiedge.gitops.desired import desired_app, desired_for_site
from aiedge.gitops.schema import RolloutSpec
from aiedge.gitops.selector import matches
from aiedge.hub.rollouts.model import (
    COMPLETE,
    FAILED,
    HEALTHY,
    ON_NEW,
    PENDING,
    PROGRESSING,
    SITE_FAILED,
    SOAKING,
    SUPERSEDED,
    UPDATING,
    Rollout,
    SiteProgress,
)

# condition reasons of an agent that refused the new digest and kept serving the old one
_REFUSED = ("SmokeTestFailed", "SignatureInvalid")


def targets(spec: RolloutSpec, n: int) -> list[int]:
    """How many sites (of ``n``) have been reached by the end of each wave."""
    out: list[int] = []
    for w in spec.waves:
        k = w.sites if w.sites is not None else math.ceil(n * (w.percent or 0) / 100)
        out.append(max(min(k, n), out[-1] if out else 0))
    return out


def placement_sites(repo: GitopsRepo, placement: str) -> list[str]:
    sel = repo.placements[placement].spec.site_selector
    return sorted(n for n, s in repo.sites.items() if matches(sel, s.metadata.labels))


def start_rollouts(
    old: GitopsRepo | None, new: GitopsRepo, under_way: Iterable[Rollout], now: datetime
) -> list[Rollout]:
    """New rollouts for every app of a placement with ``rollout`` whose digest changed from
    ``old`` to ``new``; a rollout in ``under_way`` (progressing) for the same placement and app is
    marked superseded (its sites not yet moved keep its previous digest as theirs)."""
    started: list[Rollout] = []
    if old is None:
        return started
    running = list(under_way)
    for pname, placement in new.placements.items():
        spec = placement.spec.rollout
        if spec is None:
            continue
        for app in placement.spec.apps:
            before = old.apps.get(app)
            after = new.apps[app]
            if before is None or before.spec.image.digest is None or after.spec.image.digest is None:
                continue  # a first build has nothing to roll back to
            if before.spec.image.digest == after.spec.image.digest:
                continue
            previous = desired_app(before)
            assert previous is not None
            for r in running:
                if r.placement == pname and r.app == app and r.state == PROGRESSING:
                    r.state, r.updated_at = SUPERSEDED, now
                    previous = r.from_app
            sites = placement_sites(new, pname)
            first = targets(spec, len(sites))[0]
            started.append(
                Rollout(
                    placement=pname,
                    app=app,
                    revision=new.revision,
                    from_digest=previous.digest,
                    to_digest=after.spec.image.digest,
                    from_app=previous,
                    spec=spec,
                    sites=sites,
                    progress={
                        n: SiteProgress(UPDATING if i < first else PENDING) for i, n in enumerate(sites)
                    },
                    state=PROGRESSING,
                    wave=0,
                    started_at=now,
                    updated_at=now,
                )
            )
    return started


def relevant(rollouts: Iterable[Rollout], repo: GitopsRepo) -> list[Rollout]:
    """The rollouts that shape desired states at ``repo``, out of ``rollouts`` (under way or
    failed, newest first): the newest per placement and app whose new digest is still the app's."""
    seen: set[tuple[str, str]] = set()
    out: list[Rollout] = []
    for r in rollouts:
        if r.state not in (PROGRESSING, FAILED):
            continue
        key = (r.placement, r.app)
        if key in seen:
            continue
        seen.add(key)
        app = repo.apps.get(r.app)
        if r.placement in repo.placements and app is not None and app.spec.image.digest == r.to_digest:
            out.append(r)
    return out


class Holdbacks:
    """Which (app, site) pairs are held on a rollout's previous app."""

    def __init__(self, rollouts: Iterable[Rollout]) -> None:
        self._held: dict[tuple[str, str], DesiredApp] = {}
        self.sites: set[str] = set()
        for r in rollouts:
            for site, p in r.progress.items():
                self.sites.add(site)
                if p.state not in ON_NEW:
                    self._held.setdefault((r.app, site), r.from_app)

    def apps_for(self, repo: GitopsRepo, site: str) -> list[DesiredApp]:
        apps = desired_for_site(repo, site).apps
        held = ((a, self._held.get((a.name, site))) for a in apps)
        # a held app keeps its previous image, but the site's secrets are those of this revision
        return [a if h is None else h.model_copy(update={"secrets": a.secrets}) for a, h in held]


def verdict(report: StatusReport | None, rollout: Rollout, site_digest: str | None) -> tuple[str, str]:
    """``healthy``, ``failed`` or ``waiting`` for one site of the rollout, and why."""
    if report is None:
        return "waiting", ""
    for a in report.apps:
        if a.name != rollout.app:
            continue
        if a.digest == rollout.to_digest:
            if a.health == AppHealth.HEALTHY:
                return "healthy", ""
            if a.health in (AppHealth.DEGRADED, AppHealth.FAILED):
                return "failed", f"{a.health.value} on {rollout.to_digest}: {a.message}"
        # the agent keeps the previous version serving when the new one fails its smoke test or
        # its signature check
        told = report.desired_digest is not None and report.desired_digest == site_digest
        if told and (any(r in a.message for r in _REFUSED) or a.health == AppHealth.FAILED):
            return "failed", a.message
    return "waiting", ""


def step(
    rollout: Rollout,
    reports: dict[str, tuple[datetime, StatusReport]],
    digests: dict[str, str],
    now: datetime,
) -> bool:
    """Move one rollout on from the sites' latest reports and the digests of their published
    desired states; True when some site's desired state changes (reached by a new wave, or
    rolled back)."""
    spec, progress, sites = rollout.spec, rollout.progress, rollout.sites
    tg = targets(spec, len(sites))
    moved = False
    for site in sites[: tg[rollout.wave]]:
        p = progress[site]
        if p.state in (SITE_FAILED, HEALTHY):
            continue
        seen = reports.get(site)
        result, why = verdict(seen[1] if seen else None, rollout, digests.get(site))
        if result == "failed":
            p.state, p.since, p.message = SITE_FAILED, now, why
            moved = True
        elif result == "healthy":
            if p.state == UPDATING:
                p.state, p.since = SOAKING, now
            if p.since is not None and (now - p.since).total_seconds() >= spec.soak_seconds:
                p.state = HEALTHY
        elif p.state == SOAKING:
            p.state, p.since = UPDATING, None
    failures = sum(1 for p in progress.values() if p.state == SITE_FAILED)
    if failures > spec.max_failures:
        rollout.state = FAILED
    elif all(progress[n].state in (HEALTHY, SITE_FAILED) for n in sites[: tg[rollout.wave]]):
        if rollout.wave + 1 < len(tg):
            rollout.wave += 1
            for n in sites[tg[rollout.wave - 1] : tg[rollout.wave]]:
                progress[n].state, progress[n].since = UPDATING, None
                moved = True
        else:
            rollout.state = COMPLETE
    rollout.updated_at = now
    return moved
