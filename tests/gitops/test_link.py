"""A Site's link budget in the GitOps repo: ``spec.link: {budget: 20MB/day, metered: true}`` and
``urgent: true`` on an App or a Placement reach the site's desired state (and change its digest,
so the site hears of them); a site without them keeps the desired state and digest it had; a bad
budget is refused at its file:line:col."""

from __future__ import annotations

import pytest

from aiedge.contracts import DesiredState
from aiedge.gitops import RepoInvalid, Snapshot, desired_for_site, load_repo

DIGEST = "sha256:" + "ab" * 32
HEAD = "apiVersion: aiedge.io/v1alpha1\n"


def _state(site_extra: str = "", placement_extra: str = "", app_extra: str = "") -> DesiredState:
    text = (
        f"{HEAD}kind: App\nmetadata: {{name: m}}\nspec:\n  model: mod\n  image:\n"
        f"    repository: reg.example.com/team/m\n    digest: {DIGEST}\n{app_extra}"
        f"---\n{HEAD}kind: Placement\nmetadata: {{name: p}}\nspec:\n  siteSelector: {{}}\n  apps: [m]\n"
        f"{placement_extra}"
        f"---\n{HEAD}kind: Site\nmetadata: {{name: a}}\n{site_extra}"
    )
    repo = load_repo(Snapshot("main@sha1:" + "0" * 40, {"all.yaml": text.encode()}))
    return desired_for_site(repo, "a")


def test_the_budget_and_urgent_reach_the_desired_state_and_its_digest() -> None:
    plain = _state()
    assert plain.link is None and "link" not in plain.model_dump_json()
    assert not plain.apps[0].urgent and "urgent" not in plain.model_dump_json()
    budget = _state("spec:\n  link: {budget: 20MB/day, metered: true}\n")
    assert budget.link is not None and (budget.link.budget, budget.link.metered) == (20_000_000, True)
    assert budget.digest != plain.digest
    assert _state("spec: {link: {budget: 20MB/day}}\n").digest == budget.digest  # metered by default
    counted = _state("spec: {link: {budget: 1MiB, metered: false}}\n")
    assert counted.link is not None and (counted.link.budget, counted.link.metered) == (1 << 20, False)
    assert _state(placement_extra="  urgent: true\n").apps[0].urgent
    assert _state(app_extra="  urgent: true\n").apps[0].urgent
    assert _state(app_extra="  urgent: true\n").digest != plain.digest


@pytest.mark.parametrize(
    ("site_extra", "problem"),
    [
        (
            "spec:\n  link: {budget: lots}\n",
            "all.yaml:21:18: Site: spec.link.budget: Value error, 'lots' is not a budget",
        ),
        ("spec:\n  link: {budget: 20Mbit/day}\n", "all.yaml:21:18: Site: spec.link.budget: Value error,"),
        (
            "spec:\n  link: {budget: 0}\n",
            "all.yaml:21:18: Site: spec.link.budget: Input should be greater than or equal to 1",
        ),
        (
            "spec:\n  link: {budget: 2000TB/day}\n",
            "all.yaml:21:18: Site: spec.link.budget: Value error, '2000TB/day' is not",
        ),
        (
            "spec:\n  link: {budget: 2000000GB/day}\n",
            "all.yaml:21:18: Site: spec.link.budget: Value error, '2000000GB/day': must be",
        ),
        (
            "spec:\n  link: {budget: true}\n",
            "all.yaml:21:18: Site: spec.link.budget: Value error, want a budget",
        ),
        (
            "spec:\n  link: {budget: 1MB, meterd: true}\n",
            "all.yaml:21:23: Site: spec.link.meterd: unknown field",
        ),
        (
            "spec:\n  link: {metered: true}\n",
            "all.yaml:21:9: Site: spec.link.budget: required field is missing",
        ),
    ],
)
def test_a_bad_budget_is_refused_where_it_is_written(site_extra: str, problem: str) -> None:
    with pytest.raises(RepoInvalid) as e:
        _state(site_extra)
    (found,) = [str(p) for p in e.value.problems]
    assert found.startswith(problem), found
