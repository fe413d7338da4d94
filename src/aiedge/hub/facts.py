"""Site facts at the hub: the facts each site last reported (its status reports carry them) are
what placements with fact selectors (``facts: {arch: arm64}``, ``memoryAtLeast``, ``accelerator``)
are matched against. Pure helpers over plain data; the fleet reads the reports from the store.

A report changes a site's desired state only when it changes which fact selectors the site meets
(free disk moves with every report; the selectors' answers rarely do), so :class:`FactWatch`
remembers those answers per site and says when they changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aiedge.contracts import SiteFacts, StatusReport
from aiedge.gitops import GitopsRepo
from aiedge.gitops.selector import matches_facts

Facts = Mapping[str, SiteFacts | None]


def uses_facts(repo: GitopsRepo) -> bool:
    return any(p.spec.site_selector.uses_facts for p in repo.placements.values())


def facts_of(reports: Mapping[str, tuple[datetime, StatusReport]]) -> dict[str, SiteFacts | None]:
    return {site: report.facts for site, (_, report) in reports.items()}


def answers(repo: GitopsRepo, facts: SiteFacts | None) -> tuple[bool, ...]:
    """Which of the repo's fact selectors ``facts`` meet, in placement order."""
    return tuple(
        matches_facts(p.spec.site_selector, facts)
        for _, p in sorted(repo.placements.items())
        if p.spec.site_selector.uses_facts
    )


class FactWatch:
    """Per site, the answers of the fact selectors at the revision they were computed for."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, tuple[bool, ...]]] = {}

    def changed(self, repo: GitopsRepo, site: str, facts: SiteFacts | None) -> bool:
        """True when ``facts`` answer ``repo``'s fact selectors differently than last time (or
        this hub has not seen the site at this revision yet); False for repos without any."""
        if not uses_facts(repo):
            return False
        now = (repo.revision, answers(repo, facts))
        if self._seen.get(site) == now:
            return False
        self._seen[site] = now
        return True
