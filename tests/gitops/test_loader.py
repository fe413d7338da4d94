"""Loading and validating the GitOps kinds: the example repo is valid; broken YAML, schema errors,
duplicates, dangling references and unknown versions of ours come back as file:line:col problems,
all at once; a tree with no document of ours is refused; files without any are listed as
ignored; warnings name placements that match no site and apps placed nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.gitops import RepoInvalid, Snapshot, awaiting_build, load_repo, read_directory, repo_warnings
from tests.gitops.helpers import EXAMPLES

APP = """\
apiVersion: aiedge.io/v1alpha1
kind: App
metadata:
  name: housing
spec:
  model: m
  port: {port}
  image:
    repository: 127.0.0.1:5000/aiedge/m
"""


def _load(files: dict[str, str]) -> object:
    return load_repo(Snapshot("test", {k: v.encode() for k, v in files.items()}))


def _problems(files: dict[str, str]) -> list[str]:
    with pytest.raises(RepoInvalid) as e:
        _load(files)
    return [str(p) for p in e.value.problems]


def test_examples_are_valid() -> None:
    repo = load_repo(read_directory(EXAMPLES))
    assert repo.summary() == "1 app, 3 sites, 1 placement"
    assert awaiting_build(repo) == ["housing"]
    app = repo.apps["housing"].spec
    assert app.model == "tensorflow-housing" and app.protocol.value == "tfserving" and app.port == 8080
    assert repo.sites["site-a"].metadata.labels["tier"] == "near-edge"


def test_schema_error_points_at_the_value() -> None:
    assert _problems({"apps/housing.yaml": APP.format(port="eighty")}) == [
        "apps/housing.yaml:7:9: App: spec.port: "
        "Input should be a valid integer, unable to parse string as an integer"
    ]


def test_broken_yaml_gives_its_position() -> None:
    problems = _problems({"apps/bad.yaml": "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: [a\n"})
    assert len(problems) == 1
    assert problems[0].startswith("apps/bad.yaml:4:1: invalid YAML:")


def test_every_problem_is_reported_and_sorted() -> None:
    files = {
        "a.yaml": APP.format(port=8080).replace("  model: m\n", "  model: m\n  colour: red\n"),
        "b.yaml": APP.format(port=8080),
        "p.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: p\nspec:\n"
            "  siteSelector: {matchExpressions: [{key: tier, operator: In}]}\n  apps: [housing, ghost]\n"
        ),
    }
    problems = _problems(files)
    assert problems[0] == "a.yaml:7:3: App: spec.colour: unknown field"
    assert any(p.startswith("p.yaml:6:") and "needs a non-empty values list" in p for p in problems)
    files["a.yaml"] = APP.format(port=8080)
    files["p.yaml"] = files["p.yaml"].replace("operator: In", "operator: Exists")
    assert _problems(files) == [
        "b.yaml:4:9: App 'housing' is already defined at a.yaml:4:9",
        "p.yaml:7:19: Placement: spec.apps.1: no App named 'ghost'",
    ]


def test_bad_digest_and_repository() -> None:
    text = APP.format(port=8080).replace(
        "    repository: 127.0.0.1:5000/aiedge/m\n", "    repository: aiedge/m:v1\n    digest: sha256:abc\n"
    )
    problems = _problems({"x.yml": text})
    assert any(p.startswith("x.yml:9:17: App: spec.image.repository:") for p in problems)
    assert any(p.startswith("x.yml:10:13: App: spec.image.digest: String should match") for p in problems)


def test_other_api_versions_and_kinds_are_ignored_but_our_unknown_kind_is_not() -> None:
    files = {
        "kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
        "multi.yaml": "---\nplain: doc\n---\n- a list\n---\n" + APP.format(port=8080),
        "empty.yaml": "",
    }
    repo = _load(files)
    assert getattr(repo, "apps", {}).keys() == {"housing"}
    files["wrong.yaml"] = "apiVersion: aiedge.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\n"
    assert _problems(files) == [
        "wrong.yaml:2:7: kind: unknown kind 'Rollout', "
        "expected one of ['App', 'Placement', 'Site', 'SiteSecret']"
    ]


def test_an_unknown_version_of_ours_is_an_error_not_a_missing_site() -> None:
    site = "apiVersion: aiedge.io/v1alpa1\nkind: Site\nmetadata: {name: a}\n"
    files = {"apps/housing.yaml": APP.format(port=8080), "sites/a.yaml": site}
    assert _problems(files) == [
        "sites/a.yaml:1:13: apiVersion: unknown version 'aiedge.io/v1alpa1', expected 'aiedge.io/v1alpha1'"
    ]
    files["sites/a.yaml"] = site.replace("aiedge.io/v1alpa1", "AIEDGE.io/v2")
    assert _problems(files)[0].startswith("sites/a.yaml:1:13: apiVersion: unknown version 'AIEDGE.io/v2'")


def test_a_tree_without_aiedge_documents_is_refused(shared: Path) -> None:
    with pytest.raises(RepoInvalid) as e:
        load_repo(read_directory(shared / "seed-gitops" / "acm"))
    (problem,) = e.value.problems
    assert str(problem) == (
        "no aiedge.io/v1alpha1 documents (App, Site, Placement, SiteSecret) in the 34 YAML files read"
    )
    with pytest.raises(RepoInvalid, match="in the 0 YAML files read"):
        _load({})


def test_files_without_our_documents_are_listed_as_ignored() -> None:
    repo = load_repo(read_directory(EXAMPLES))
    assert repo.ignored == {}
    files = {
        "kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n",
        "notes.yaml": "# aiedge.io is mentioned here, but no document is ours\nplain: doc\n",
        "app.yaml": APP.format(port=8080),
    }
    loaded = load_repo(Snapshot("t", {k: v.encode() for k, v in files.items()}))
    assert loaded.ignored == {
        "kustomization.yaml": "no aiedge.io documents",
        "notes.yaml": "no aiedge.io documents",
    }


def test_warnings_name_the_selector_that_matches_nothing() -> None:
    repo = load_repo(read_directory(EXAMPLES))
    assert repo_warnings(repo) == []
    files = {
        "apps/housing.yaml": APP.format(port=8080),
        "apps/lonely.yaml": APP.format(port=8080).replace("name: housing", "name: lonely"),
        "sites/a.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: a, labels: {tier: near-edge}}\n"
        ),
        "placements/p.yaml": (
            "apiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata:\n  name: near-edge\nspec:\n"
            "  siteSelector:\n    matchLabels: {tier: near-egde}\n  apps: [housing]\n"
        ),
    }
    repo = load_repo(Snapshot("t", {k: v.encode() for k, v in files.items()}))
    nowhere = "is placed on no Site (no Placement that matches a Site lists it)"
    assert [str(w) for w in repo_warnings(repo)] == [
        f"apps/housing.yaml:4:9: App 'housing' {nowhere}",
        f"apps/lonely.yaml:4:9: App 'lonely' {nowhere}",
        "placements/p.yaml:7:5: Placement 'near-edge': spec.siteSelector matches no Site, so housing run "
        "nowhere (no Site has tier=near-egde; Sites have tier: near-edge)",
    ]
