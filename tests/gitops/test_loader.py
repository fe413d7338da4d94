"""Loading and validating the GitOps kinds: the example repo is valid; broken YAML, schema errors,
duplicates and dangling references come back as file:line:col problems, all at once."""

from __future__ import annotations

import pytest

from aiedge.gitops import RepoInvalid, Snapshot, awaiting_build, load_repo, read_directory
from tests.gitops.conftest import EXAMPLES

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
