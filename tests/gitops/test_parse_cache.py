"""Reading revision after revision with a parse cache: a file with the same path and bytes is not
parsed again (its Sites are the very objects of the last read), a changed file is, problems of a
cached file are still reported with their positions, and the cache keeps only the newest read's
files."""

from __future__ import annotations

import pytest

from aiedge.gitops import ParseCache, RepoInvalid, Snapshot, load_repo

APP = """\
apiVersion: aiedge.io/v1alpha1
kind: App
metadata:
  name: housing
spec:
  model: m
  image:
    repository: 127.0.0.1:5000/aiedge/m
    digest: sha256:{digest}
---
apiVersion: aiedge.io/v1alpha1
kind: Placement
metadata:
  name: all
spec:
  siteSelector:
    matchLabels:
      tier: edge
  apps: [housing]
"""
SITES = "---\n".join(
    f"apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata:\n  name: s{i}\n  labels:\n    tier: edge\n"
    for i in range(50)
)


def _snapshot(revision: str, files: dict[str, str]) -> Snapshot:
    return Snapshot(revision, {k: v.encode() for k, v in files.items()})


def test_unchanged_files_are_not_parsed_again() -> None:
    cache = ParseCache()
    first = load_repo(
        _snapshot("r1", {"app.yaml": APP.format(digest="a" * 64), "sites.yaml": SITES}), cache=cache
    )
    second = load_repo(
        _snapshot("r2", {"app.yaml": APP.format(digest="b" * 64), "sites.yaml": SITES}), cache=cache
    )
    assert second.revision == "r2"
    assert second.apps["housing"].spec.image.digest == "sha256:" + "b" * 64
    assert all(second.sites[n] is first.sites[n] for n in first.sites)  # not parsed again
    assert second.origins["Site/s7"] == first.origins["Site/s7"]
    assert second.origins["Site/s7"].fields["metadata.name"] == (4 + 7 * 7, 9)
    uncached = load_repo(_snapshot("r2", {"app.yaml": APP.format(digest="b" * 64), "sites.yaml": SITES}))
    assert (second.apps, second.sites, second.placements) == (
        uncached.apps,
        uncached.sites,
        uncached.placements,
    )
    assert second.origins == uncached.origins


def test_problems_of_a_cached_file_are_reported_again() -> None:
    cache = ParseCache()
    files = {"app.yaml": APP.format(digest="a" * 64), "sites.yaml": SITES + "---\n" + SITES.split("---\n")[3]}
    for revision in ("r1", "r2"):
        with pytest.raises(RepoInvalid) as e:
            load_repo(_snapshot(revision, files), cache=cache)
        assert [str(p) for p in e.value.problems] == [
            "sites.yaml:354:9: Site 's3' is already defined at sites.yaml:25:9"
        ]


def test_the_cache_keeps_only_the_newest_read() -> None:
    cache = ParseCache()
    old = {"app.yaml": APP.format(digest="a" * 64), "sites.yaml": SITES}
    first = load_repo(_snapshot("r1", old), cache=cache)
    load_repo(_snapshot("r2", {"app.yaml": APP.format(digest="a" * 64), "other.yaml": SITES}), cache=cache)
    again = load_repo(_snapshot("r3", old), cache=cache)
    assert again.sites["s1"] is not first.sites["s1"]  # sites.yaml was forgotten after r2
    assert again.sites == first.sites
