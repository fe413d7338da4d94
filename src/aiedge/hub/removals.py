"""Guarded removals: a revision that would take an app off many of the sites serving it at once
(a typo in a Placement's selector, a deleted Placement) is held, not published, unless the commit
says it means it. Argo CD and Flux make pruning explicit for the same reason.

Held when, for some app, the sites losing it are more than ``max_sites`` **and** more than
``max_share`` of the sites serving it (default: more than one site and more than 10%), unless the
App itself is deleted in that revision, or the App or a Placement that lists it carries the
annotation ``aiedge.io/allow-removal: "true"``. Pure: two revisions in, the held removals out.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiedge.gitops import GitopsRepo, Problem
from aiedge.gitops.schema_rollout import ALLOW_REMOVAL
from aiedge.gitops.selector import matches
from aiedge.hub.facts import Facts


@dataclass(frozen=True, slots=True)
class Guard:
    max_sites: int = 1
    max_share: float = 0.10


@dataclass(frozen=True, slots=True)
class HeldRemoval:
    """One app the revision would take off ``removed`` of the ``serving`` sites that run it."""

    app: str
    removed: list[str]
    serving: int
    where: Problem  # the Placement (or App) to look at, file:line:col

    def message(self) -> str:
        some = ", ".join(self.removed[:5]) + (
            f" and {len(self.removed) - 5} more" if len(self.removed) > 5 else ""
        )
        return (
            f"{_at(self.where)}would remove app {self.app} from {len(self.removed)} of the {self.serving} "
            f"sites serving it ({some}); held. If that is meant, annotate the Placement or the App "
            f'with {ALLOW_REMOVAL}: "true" in a new commit'
        )


def _at(p: Problem) -> str:
    return f"{p.file}:{p.line}:{p.col}: " if p.file else ""


def placed(repo: GitopsRepo, facts: Facts | None = None) -> dict[str, set[str]]:
    """Each app and the sites its placements put it on (given the ``facts`` sites reported)."""
    out: dict[str, set[str]] = {}
    known = facts or {}
    for p in repo.placements.values():
        sel = p.spec.site_selector
        sites = {n for n, s in repo.sites.items() if matches(sel, s.metadata.labels, known.get(n))}
        for app in p.spec.apps:
            out.setdefault(app, set()).update(sites)
    return out


def _acknowledged(repo: GitopsRepo, app: str) -> bool:
    if repo.apps[app].metadata.annotations.get(ALLOW_REMOVAL) == "true":
        return True
    return any(
        app in p.spec.apps and p.metadata.annotations.get(ALLOW_REMOVAL) == "true"
        for p in repo.placements.values()
    )


def _where(old: GitopsRepo, new: GitopsRepo, app: str, gone: set[str], facts: Facts) -> Problem:
    """The Placement that put ``app`` on a site it no longer reaches, as it stands in ``new``
    (the App when that Placement is gone)."""
    for name, p in old.placements.items():
        if app not in p.spec.apps:
            continue
        sel = p.spec.site_selector
        if any(matches(sel, old.sites[s].metadata.labels, facts.get(s)) for s in gone if s in old.sites):
            origin = new.origins.get(f"Placement/{name}") if name in new.placements else None
            if origin is not None:
                field = "spec.siteSelector" if app in new.placements[name].spec.apps else "spec.apps"
                return origin.problem(field, "")
    origin = new.origins.get(f"App/{app}")
    return origin.problem("metadata.name", "") if origin else Problem("", 0, 0, "")


def held_removals(
    old: GitopsRepo | None, new: GitopsRepo, guard: Guard, facts: Facts | None = None
) -> list[HeldRemoval]:
    """The removals of ``new`` (against the published ``old``) that must wait for an
    acknowledgement, given the ``facts`` sites last reported; empty when it may be published."""
    if old is None:
        return []
    known = facts or {}
    before, after = placed(old, known), placed(new, known)
    out: list[HeldRemoval] = []
    for app, serving in sorted(before.items()):
        if app not in new.apps or _acknowledged(new, app):
            continue  # deleted on purpose, or said so
        gone = serving - after.get(app, set())
        if len(gone) > guard.max_sites and len(gone) > guard.max_share * len(serving):
            where = _where(old, new, app, gone, known)
            out.append(
                HeldRemoval(app, sorted(gone), len(serving), Problem(where.file, where.line, where.col, ""))
            )
    return out
