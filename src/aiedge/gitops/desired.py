"""One site's :class:`~aiedge.contracts.DesiredState` from a valid :class:`GitopsRepo`: the apps
of every placement whose selector matches the site's labels (and the facts it last reported, for
selectors on facts), images pinned by digest, each with
that site's own SiteSecret ciphertexts (never another site's; the hub cannot decrypt them). Apps
with no digest yet (awaiting their first build) are left out."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from aiedge.contracts import DesiredApp, DesiredState, LinkBudget, MaintenanceWindow, SiteFacts, SmokeTest
from aiedge.gitops.errors import UnknownSite
from aiedge.gitops.loader import GitopsRepo
from aiedge.gitops.schema import DEFAULT_TEST_PATHS, App
from aiedge.gitops.schema_serving import AppOverride, Serving, overridden
from aiedge.gitops.selector import matches


def apps_for_site(repo: GitopsRepo, site: str, facts: SiteFacts | None = None) -> list[App]:
    """Every app placed on ``site`` (digest or not), sorted by name; ``facts``: what the site last
    reported (None: none yet, so no selector on facts matches it)."""
    found = repo.sites.get(site)
    if found is None:
        raise UnknownSite(site, repo.revision)
    names: set[str] = set()
    for placement in repo.placements.values():
        if matches(placement.spec.site_selector, found.metadata.labels, facts):
            names.update(placement.spec.apps)
    return [repo.apps[n] for n in sorted(names)]


def desired_app(
    app: App, secrets: dict[str, str] | None = None, override: AppOverride | None = None
) -> DesiredApp | None:
    """The wire form of one app (with one site's ``secrets``, env name -> age ciphertext, and its
    ``override`` of the App's serving settings), or None while it awaits its first build."""
    spec = app.spec
    if spec.image.digest is None:
        return None
    smoke: SmokeTest | None = None
    if spec.test is not None:
        path = spec.test.path or DEFAULT_TEST_PATHS[spec.protocol].format(model=spec.model)
        tol: dict[str, float] = {}
        if spec.test.rtol is not None:
            tol["rtol"] = spec.test.rtol
        if spec.test.atol is not None:
            tol["atol"] = spec.test.atol
        smoke = SmokeTest(path=path, request=spec.test.request, response=spec.test.response, **tol)
    return DesiredApp(
        name=app.metadata.name,
        model=spec.model,
        image=f"{spec.image.repository}@{spec.image.digest}",
        protocol=spec.protocol.value,
        port=spec.port,
        grpc_port=spec.grpc_port,
        smoke_test=smoke,
        secrets=secrets or {},
        drift=spec.drift.config() if spec.drift is not None else None,
        capture=spec.capture.config() if spec.capture is not None else None,
        shadow=spec.rollout.shadow.config() if spec.rollout and spec.rollout.shadow else None,
        **_serving(overridden(spec, override)),
    )


def _serving(s: Serving) -> dict[str, Any]:
    return {
        "env": dict(s.env),
        "device": s.device,
        "device_required": bool(s.device_required),
        "precision": s.precision,
        "slots": s.slots,
        "queue": s.queue,
    }


def _schedule(repo: GitopsRepo, site: str, app: str, facts: SiteFacts | None) -> dict[str, Any]:
    """The app's maintenance windows at ``site``: those of the Placements placing it there (all
    of them together), else the Site's; ``prefetch`` when any of those Placements asks for it,
    ``urgent`` when the App or any of them does."""
    found = repo.sites[site]
    placing = [
        p
        for p in repo.placements.values()
        if app in p.spec.apps and matches(p.spec.site_selector, found.metadata.labels, facts)
    ]
    windows = [w for p in placing for w in p.spec.windows] or list(found.spec.windows)
    urgent = {"urgent": True} if repo.apps[app].spec.urgent or any(p.spec.urgent for p in placing) else {}
    if not windows:
        return urgent
    return {
        "windows": [MaintenanceWindow(start=w.start, duration=w.duration) for w in windows],
        "time_zone": found.spec.time_zone,
        "prefetch": any(p.spec.prefetch for p in placing),
        **urgent,
    }


def desired_for_site(repo: GitopsRepo, site: str, facts: SiteFacts | None = None) -> DesiredState:
    """What ``site`` should run at this revision, given the ``facts`` it last reported;
    :class:`UnknownSite` when it is not defined."""
    apps = []
    for a in apps_for_site(repo, site, facts):
        override = repo.sites[site].spec.overrides.get(a.metadata.name)
        d = desired_app(a, repo.secret_data(site, a.metadata.name), override)
        if d is not None:
            schedule = _schedule(repo, site, a.metadata.name, facts)
            apps.append(d.model_copy(update=schedule) if schedule else d)
    return DesiredState(site=site, revision=repo.revision, apps=apps, link=site_link(repo, site))


def sharing_key(repo: GitopsRepo, site: str, facts: SiteFacts | None = None) -> Hashable | None:
    """What :func:`desired_for_site` reads of ``site`` besides its name and link: sites with equal
    keys get equal apps (a 10,000-site fleet has a handful of keys, and a publish renders each
    once). None for a site with anything of its own (an override, a SiteSecret): render it alone.
    Whatever :func:`desired_for_site` comes to read of a site must be in this key, or be a reason
    to answer None."""
    found = repo.sites.get(site)
    if found is None:
        raise UnknownSite(site, repo.revision)
    if found.spec.overrides or site in repo.secret_sites:
        return None
    return (
        tuple(sorted(found.metadata.labels.items())),
        facts.model_dump_json() if facts is not None else None,
        tuple(found.spec.windows),
        found.spec.time_zone,
    )


def site_link(repo: GitopsRepo, site: str) -> LinkBudget | None:
    """The wire form of the Site's ``spec.link``; None when it has none."""
    link = repo.sites[site].spec.link
    return LinkBudget(budget=link.budget, metered=link.metered) if link is not None else None


def awaiting_build(repo: GitopsRepo) -> list[str]:
    """Names of apps with no image digest yet."""
    return [n for n, a in repo.apps.items() if a.spec.image.digest is None]
