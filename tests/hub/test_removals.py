"""Guarded removals as a pure rule over two revisions: an app taken off more than one site and more
than 10% of those serving it is held; deleting the App, or the aiedge.io/allow-removal annotation
on the App or a Placement listing it, lets it through; small removals pass; where to look."""

from __future__ import annotations

from typing import Any

import pytest

from aiedge.gitops import GitopsRepo, Snapshot, load_repo
from aiedge.hub.removals import Guard, held_removals, placed
from tests.hub.helpers import fleet_files

D1 = "sha256:" + "1" * 64
ACK = '  annotations:\n    aiedge.io/allow-removal: "true"\n'


def _repo(sites: int = 3, revision: str = "r1", **kw: Any) -> GitopsRepo:
    names = {f"site-{i:02d}": {"tier": "near-edge"} for i in range(sites)}
    return load_repo(Snapshot(revision, fleet_files(D1, sites=names, **kw)))


def _edit(repo: GitopsRepo, path: str, old: str, new: str, revision: str = "r2") -> GitopsRepo:
    files = fleet_files(D1, sites={n: dict(s.metadata.labels) for n, s in repo.sites.items()})
    files[path] = files[path].replace(old.encode(), new.encode())
    return load_repo(Snapshot(revision, files))


def test_a_typo_in_a_selector_is_held_and_says_where() -> None:
    old = _repo()
    new = _edit(old, "placements/near-edge.yaml", "tier: near-edge", "tier: near-egde")
    assert placed(old) == {"housing": {"site-00", "site-01", "site-02"}} and placed(new) == {"housing": set()}
    (held,) = held_removals(old, new, Guard())
    assert (held.app, held.removed, held.serving) == ("housing", ["site-00", "site-01", "site-02"], 3)
    assert held.where.file == "placements/near-edge.yaml" and held.where.line > 0
    text = held.message()
    assert text.startswith(f"placements/near-edge.yaml:{held.where.line}:{held.where.col}: would remove app")
    assert "from 3 of the 3 sites serving it (site-00, site-01, site-02); held" in text
    assert 'aiedge.io/allow-removal: "true"' in text


@pytest.mark.parametrize(
    ("sites", "removed", "held"),
    [
        (3, 1, False),  # one site: never held
        (3, 2, True),  # two of three
        (30, 3, False),  # 10% exactly: not more than 10%
        (30, 4, True),
        (100, 10, False),
        (100, 11, True),
    ],
)
def test_the_threshold_is_more_than_one_site_and_more_than_a_tenth(
    sites: int, removed: int, held: bool
) -> None:
    old = _repo(sites)
    labels = {n: {"tier": "near-edge" if i >= removed else "far"} for i, n in enumerate(sorted(old.sites))}
    new = load_repo(Snapshot("r2", fleet_files(D1, sites=labels)))
    assert bool(held_removals(old, new, Guard())) is held
    assert held_removals(old, new, Guard(max_sites=removed, max_share=0)) == []


def test_deleting_the_app_or_acknowledging_lets_it_through() -> None:
    old = _repo()
    gone = load_repo(
        Snapshot(
            "r2", {p: b for p, b in fleet_files(D1).items() if not p.startswith(("apps/", "placements/"))}
        )
    )
    assert held_removals(old, gone, Guard()) == []
    typo = ("tier: near-edge", "tier: near-egde")
    on_placement = _edit(old, "placements/near-edge.yaml", *typo)
    files = fleet_files(D1, sites={n: {"tier": "near-edge"} for n in old.sites})
    for path, name in (("placements/near-edge.yaml", "near-edge"), ("apps/housing.yaml", "housing")):
        acked = dict(files)
        acked["placements/near-edge.yaml"] = acked["placements/near-edge.yaml"].replace(
            b"tier: near-edge", b"tier: near-egde"
        )
        acked[path] = acked[path].replace(f"  name: {name}\n".encode(), f"  name: {name}\n{ACK}".encode())
        assert held_removals(old, load_repo(Snapshot("r3", acked)), Guard()) == [], path
    assert held_removals(old, on_placement, Guard())  # without it: held
    assert held_removals(None, on_placement, Guard()) == []  # the first revision has nothing to lose


def test_deleting_the_placement_alone_is_held_at_the_app() -> None:
    old = _repo()
    files = {p: b for p, b in fleet_files(D1, sites={n: {"tier": "near-edge"} for n in old.sites}).items()}
    del files["placements/near-edge.yaml"]
    (held,) = held_removals(old, load_repo(Snapshot("r2", files)), Guard())
    assert held.where.file == "apps/housing.yaml"
