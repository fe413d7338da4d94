"""The rules of progressive rollouts (a Placement's ``rollout``), as pure functions over plain data
(:mod:`aiedge.hub.rollouts.model`): which changes of an app start a rollout (a new digest, smoke
test or config: what is tried), where each site starts from (what it runs), which sites the new
version reaches (wave by wave; never a pending site outside its wave), when the next wave starts
(every reached site healthy on it for ``soakSeconds``), what a site's report means (its typed
``reason``, never its message), what a site past its ``progressDeadline`` counts as, and when the
rollout stops (more failed sites than ``maxFailures``; they go back to what they ran).

No database, no clock, no HTTP: :mod:`aiedge.hub.fleet` reads the rollouts and reports from the
store, calls these rules, and writes back what they changed.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime

from aiedge.contracts import (
    IN_PROGRESS_REASONS,
    REFUSED_REASONS,
    AppHealth,
    AppReason,
    DesiredApp,
    SiteFacts,
    StatusReport,
)
from aiedge.gitops import GitopsRepo
from aiedge.gitops.desired import desired_app, desired_for_site
from aiedge.gitops.schema_rollout import OnTimeout, RolloutSpec
from aiedge.gitops.selector import matches
from aiedge.hub.rollouts.model import (
    ABORTED,
    COMPLETE,
    FAILED,
    HEALTHY,
    ON_NEW,
    PENDING,
    PROGRESSING,
    SHAPING,
    SITE_FAILED,
    SKIPPED,
    SOAKING,
    SUPERSEDED,
    UPDATING,
    Rollout,
    SiteProgress,
)

Reports = dict[str, tuple[datetime, StatusReport]]


def attempt_key(app: DesiredApp) -> str:
    """What is tried when a site gets ``app``: its digest, smoke test and config (not its
    secrets, which differ per site). A new key is a new attempt, even on the same digest."""
    body = app.model_dump_json(exclude={"secrets"})
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def targets(spec: RolloutSpec, n: int) -> list[int]:
    """How many sites (of ``n``) have been reached by the end of each wave."""
    out: list[int] = []
    for w in spec.waves:
        k = w.sites if w.sites is not None else math.ceil(n * (w.percent or 0) / 100)
        out.append(max(min(k, n), out[-1] if out else 0))
    return out


def wave_of(spec: RolloutSpec, n: int, index: int) -> int:
    """The wave (0-based) that reaches the ``index``-th of ``n`` sites."""
    return next(i for i, k in enumerate(targets(spec, n)) if index < k)


def placement_sites(
    repo: GitopsRepo, placement: str, facts: Mapping[str, SiteFacts | None] | None = None
) -> list[str]:
    """The sites ``placement`` selects, by their labels and (for selectors on facts) the facts
    each last reported."""
    sel = repo.placements[placement].spec.site_selector
    known = facts or {}
    return sorted(n for n, s in repo.sites.items() if matches(sel, s.metadata.labels, known.get(n)))


def _starting_point(
    site: str,
    app: str,
    running: dict[str, dict[str, DesiredApp]],
    serving: dict[str, dict[str, str | None]],
    earlier: list[Rollout],
    before: DesiredApp,
) -> DesiredApp | None:
    """What ``site`` runs of ``app`` now: the candidate (its published desired app, what a
    superseded rollout held it on, the previous version in Git) whose digest it reports serving;
    else its published desired app; None when the app is not there at all."""
    published = running.get(site, {}).get(app)
    candidates = [published, *(r.previous(site) for r in earlier), before]
    digest = serving.get(site, {}).get(app)
    if digest is not None:
        for c in candidates:
            if c is not None and c.digest == digest:
                return c
    return published


def start_rollouts(
    old: GitopsRepo | None,
    new: GitopsRepo,
    shaping: Iterable[Rollout],
    running: dict[str, dict[str, DesiredApp]],
    serving: dict[str, dict[str, str | None]],
    now: datetime,
    facts: Mapping[str, SiteFacts | None] | None = None,
) -> list[Rollout]:
    """New rollouts for every app of a placement with ``rollout`` whose version (digest, test or
    config) changed from ``old`` to ``new``. Rollouts in ``shaping`` (under way, stopped or
    aborted) for the same placement and app are marked superseded. Each site starts from what it
    runs (``running``: its published desired apps; ``serving``: the digests its last report
    names): the sites the first wave does not reach stay there."""
    started: list[Rollout] = []
    if old is None:
        return started
    earlier_all = list(shaping)
    for pname, placement in new.placements.items():
        spec = placement.spec.rollout
        if spec is None:
            continue
        for app in placement.spec.apps:
            before, after = (
                desired_app(old.apps[app]) if app in old.apps else None,
                desired_app(new.apps[app]),
            )
            if before is None or after is None:
                continue  # a first build has nothing to roll back to
            attempt = attempt_key(after)
            if attempt_key(before) == attempt:
                continue
            earlier = [r for r in earlier_all if r.placement == pname and r.app == app and r.state in SHAPING]
            for r in earlier:
                r.state, r.updated_at = SUPERSEDED, now
            sites = placement_sites(new, pname, facts)
            from_apps = {s: _starting_point(s, app, running, serving, earlier, before) for s in sites}
            common = Counter(a.digest for a in from_apps.values() if a is not None).most_common(1)
            first = 0 if spec.paused else targets(spec, len(sites))[0]
            started.append(
                Rollout(
                    placement=pname,
                    app=app,
                    revision=new.revision,
                    from_digest=common[0][0] if common else before.digest,
                    to_digest=after.digest,
                    from_app=before,
                    spec=spec,
                    sites=sites,
                    progress={
                        n: SiteProgress(UPDATING, reached=now) if i < first else SiteProgress(PENDING)
                        for i, n in enumerate(sites)
                    },
                    state=PROGRESSING,
                    wave=0,
                    started_at=now,
                    updated_at=now,
                    attempt=attempt,
                    from_apps=from_apps,
                )
            )
    return started


def relevant(rollouts: Iterable[Rollout], repo: GitopsRepo) -> list[Rollout]:
    """The rollouts that shape desired states at ``repo``, out of ``rollouts`` (newest first): the
    newest per placement and app, under way, stopped or aborted, trying what Git asks for now
    (its digest, test and config) under a placement that still has a rollout policy."""
    seen: set[tuple[str, str]] = set()
    out: list[Rollout] = []
    for r in rollouts:
        key = (r.placement, r.app)
        if key in seen:
            continue
        seen.add(key)
        placement = repo.placements.get(r.placement)
        app = repo.apps.get(r.app)
        if r.state not in SHAPING or placement is None or placement.spec.rollout is None or app is None:
            continue
        now = desired_app(app)
        if now is not None and (r.attempt == attempt_key(now) if r.attempt else r.to_digest == now.digest):
            out.append(r)
    return out


class Holdbacks:
    """Which (app, site) pairs are held on what the site ran before the rollout (None: the app
    stays off the site until its wave)."""

    def __init__(self, rollouts: Iterable[Rollout]) -> None:
        self._held: dict[tuple[str, str], DesiredApp | None] = {}
        self.sites: set[str] = set()
        for r in rollouts:
            for site, p in r.progress.items():
                self.sites.add(site)
                if r.state == ABORTED or p.state not in ON_NEW:
                    self._held.setdefault((r.app, site), r.previous(site))

    def apps_for(self, repo: GitopsRepo, site: str, facts: SiteFacts | None = None) -> list[DesiredApp]:
        out: list[DesiredApp] = []
        for a in desired_for_site(repo, site, facts).apps:
            if (a.name, site) not in self._held:
                out.append(a)
                continue
            held = self._held[(a.name, site)]
            if held is not None:  # its previous version, with the secrets of this revision
                out.append(held.model_copy(update={"secrets": a.secrets}))
        return out


def verdict(report: StatusReport | None, rollout: Rollout, site_digest: str | None) -> tuple[str, str]:
    """``healthy``, ``failed`` or ``waiting`` for one site of the rollout, and why. Decided on the
    typed ``reason`` (and ``health``, for agents that send no reason), never on the message:
    work under way (Progressing, Downloading, Deferred, a fetch retried) is never a failure."""
    if report is None:
        return "waiting", ""
    told = report.desired_digest is not None and report.desired_digest == site_digest
    for a in report.apps:
        if a.name != rollout.app:
            continue
        on_new = a.digest == rollout.to_digest
        why = a.message or a.reason.value
        if a.reason in REFUSED_REASONS:
            tried = a.target_digest == rollout.to_digest if a.target_digest else (told or on_new)
            return ("failed", why) if tried else ("waiting", "")
        if a.reason in IN_PROGRESS_REASONS:
            return "waiting", why
        if on_new and a.health == AppHealth.HEALTHY:
            return "healthy", ""
        if a.reason == AppReason.UNKNOWN:  # an agent older than reasons: its health alone
            if on_new and a.health in (AppHealth.DEGRADED, AppHealth.FAILED):
                return "failed", f"{a.health.value} on {rollout.to_digest}: {a.message}"
            if told and a.health == AppHealth.FAILED:
                return "failed", why
        return "waiting", why
    return "waiting", ""


def _late(p: SiteProgress, deadline: float | None, now: datetime) -> bool:
    return deadline is not None and p.reached is not None and (now - p.reached).total_seconds() >= deadline


def _silence(seen: tuple[datetime, StatusReport] | None, now: datetime) -> str:
    if seen is None:
        return "no report yet"
    return f"last report {max(0, int((now - seen[0]).total_seconds()))}s ago"


def step(rollout: Rollout, reports: Reports, digests: dict[str, str], now: datetime) -> bool:
    """Move one rollout under way on from the sites' latest reports and the digests of their
    published desired states; True when some site's desired state changes (reached by a wave, or
    sent back). A paused rollout (in Git or by an operator) reaches no new site."""
    if rollout.state != PROGRESSING:
        return False
    spec, progress, sites = rollout.spec, rollout.progress, rollout.sites
    tg = targets(spec, len(sites))
    paused = spec.paused or rollout.paused
    moved = False
    reached = sites[: tg[rollout.wave]]
    if not paused:  # a wave that started while paused, or resumed
        for site in reached:
            if progress[site].state == PENDING:
                progress[site] = SiteProgress(UPDATING, reached=now)
                moved = True
    for index, site in enumerate(reached):
        p = progress[site]
        if p.state in (PENDING, SITE_FAILED, HEALTHY):
            continue
        seen = reports.get(site)
        result, why = verdict(seen[1] if seen else None, rollout, digests.get(site))
        if result == "failed":
            p.state, p.since, p.message = SITE_FAILED, now, why
            moved = True
        elif result == "healthy":
            if p.state in (UPDATING, SKIPPED):
                p.state, p.since, p.message = SOAKING, now, ""
            if p.since is not None and (now - p.since).total_seconds() >= spec.soak_seconds:
                p.state = HEALTHY
        else:
            if p.state == SOAKING:
                p.state, p.since = UPDATING, None
            deadline, policy = spec.deadline(wave_of(spec, len(sites), index))
            if p.state == UPDATING and _late(p, deadline, now):
                late = f"not healthy on the new version within progressDeadline {deadline:g}s"
                late += f" ({why or _silence(seen, now)})"
                if policy == OnTimeout.SKIP:
                    p.state, p.since, p.message = SKIPPED, now, f"skipped: {late}"
                else:
                    p.state, p.since, p.message = SITE_FAILED, now, late
                    moved = True
    failures = sum(1 for p in progress.values() if p.state == SITE_FAILED)
    if failures > spec.failure_budget(len(sites)):
        rollout.state = FAILED
    elif not paused and all(progress[n].state in (HEALTHY, SITE_FAILED, SKIPPED) for n in reached):
        if rollout.wave + 1 < len(tg):
            rollout.wave += 1
            for n in sites[tg[rollout.wave - 1] : tg[rollout.wave]]:
                progress[n] = SiteProgress(UPDATING, reached=now)
                moved = True
        else:
            rollout.state = COMPLETE
    rollout.updated_at = now
    return moved
