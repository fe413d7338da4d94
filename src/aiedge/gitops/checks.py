"""Warnings about a valid repo: what it says that is almost certainly not what was meant, though
no rule forbids it. A Placement whose selector matches no Site (a typo in a label stops its apps
everywhere) and an App that no matching Placement lists. ``aiedge validate`` prints them
(``--strict`` makes them errors); the hub can show them beside the revision it serves."""

from __future__ import annotations

from aiedge.gitops.errors import Problem
from aiedge.gitops.loader import GitopsRepo, Origin
from aiedge.gitops.schema import Placement, Site
from aiedge.gitops.selector import matches_labels


def repo_warnings(repo: GitopsRepo) -> list[Problem]:
    """Every warning about ``repo``, sorted by place."""
    warnings: list[Problem] = []
    placed: set[str] = set()
    for name, placement in repo.placements.items():
        # facts come from the sites at run time: only the labels can be checked here
        selector = placement.spec.site_selector
        chosen = [s for s in repo.sites.values() if matches_labels(selector, s.metadata.labels)]
        if chosen:
            placed.update(placement.spec.apps)
            continue
        apps = ", ".join(placement.spec.apps)
        message = f"Placement {name!r}: spec.siteSelector matches no Site, so {apps} run nowhere"
        hint = _near_misses(placement, list(repo.sites.values()))
        warnings.append(
            _origin(repo, f"Placement/{name}").problem(
                "spec.siteSelector", message + (f" ({hint})" if hint else "")
            )
        )
    for name in repo.apps:
        if name not in placed:
            warnings.append(
                _origin(repo, f"App/{name}").problem(
                    "metadata.name",
                    f"App {name!r} is placed on no Site (no Placement that matches a Site lists it)",
                )
            )
    return sorted(warnings)


def _origin(repo: GitopsRepo, key: str) -> Origin:
    return repo.origins.get(key) or Origin("")


def _near_misses(placement: Placement, sites: list[Site]) -> str:
    """For each matchLabels pair no Site has: the values Sites do have for that key."""
    parts: list[str] = []
    for key, value in placement.spec.site_selector.match_labels.items():
        values = sorted({s.metadata.labels[key] for s in sites if key in s.metadata.labels})
        if value in values:
            continue
        if values:
            shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
            parts.append(f"no Site has {key}={value}; Sites have {key}: {shown}")
        else:
            parts.append(f"no Site has the label {key}")
    return "; ".join(parts)
