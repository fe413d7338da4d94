"""Placements on site facts: ``facts: {arch: arm64}`` (the kernel's words accepted), ``memoryAtLeast``
and ``diskFreeAtLeast`` as Kubernetes quantities, ``cpusAtLeast`` and ``accelerator``, ANDed with
the labels; a site without reported facts meets no fact requirement; a bad value is refused with
file:line:col naming the field; validation checks only the labels (facts come at run time)."""

from __future__ import annotations

import pytest

from aiedge.contracts import SiteFacts
from aiedge.gitops import GitopsRepo, RepoInvalid, Snapshot, desired_for_site, load_repo, repo_warnings
from aiedge.gitops.quantity import format_bytes, parse_bytes

DIGEST = "sha256:" + "ab" * 32
GI = 1 << 30


def _repo(selector: str) -> GitopsRepo:
    text = (
        "apiVersion: aiedge.io/v1alpha1\nkind: App\nmetadata: {name: m}\nspec:\n  model: mod\n"
        f"  image: {{repository: reg.example.com/team/m, digest: '{DIGEST}'}}\n"
        "---\napiVersion: aiedge.io/v1alpha1\nkind: Placement\nmetadata: {name: p}\nspec:\n"
        f"  siteSelector:\n{selector}  apps: [m]\n"
        "---\napiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: a, labels: {tier: edge}}\n"
    )
    return load_repo(Snapshot("main@sha1:" + "0" * 40, {"all.yaml": text.encode()}))


def _facts(**kw: object) -> SiteFacts:
    base: dict[str, object] = {"arch": "amd64", "cpus": 4, "memory_bytes": 8 * GI, "disk_free_bytes": 50 * GI}
    return SiteFacts.model_validate({**base, **kw})


def _placed(repo: GitopsRepo, facts: SiteFacts | None) -> bool:
    return bool(desired_for_site(repo, "a", facts).apps)


@pytest.mark.parametrize(
    ("selector", "facts", "placed"),
    [
        ("    facts: {arch: arm64}\n", _facts(arch="arm64"), True),
        ("    facts: {arch: aarch64}\n", _facts(arch="arm64"), True),
        ("    facts: {arch: arm64}\n", _facts(), False),
        ("    facts: {arch: amd64, os: linux}\n", _facts(), True),
        ("    memoryAtLeast: 4Gi\n", _facts(), True),
        ("    memoryAtLeast: 16Gi\n", _facts(), False),
        ("    memoryAtLeast: 8589934592\n", _facts(), True),
        ("    diskFreeAtLeast: 60G\n", _facts(), False),
        ("    cpusAtLeast: 4\n", _facts(), True),
        ("    cpusAtLeast: 8\n", _facts(), False),
        ("    accelerator: gpu\n", _facts(), False),
        ("    accelerator: gpu\n", _facts(accelerators=["gpu"]), True),
        ("    accelerator: npu\n", _facts(accelerators=["gpu"]), False),
        ("    matchLabels: {tier: edge}\n    facts: {arch: amd64}\n", _facts(), True),
        ("    matchLabels: {tier: core}\n    facts: {arch: amd64}\n", _facts(), False),
    ],
)
def test_fact_selectors(selector: str, facts: SiteFacts, placed: bool) -> None:
    assert _placed(_repo(selector), facts) is placed


def test_a_site_without_facts_meets_no_fact_requirement() -> None:
    assert not _placed(_repo("    facts: {arch: amd64}\n"), None)
    assert _placed(_repo("    matchLabels: {tier: edge}\n"), None)  # labels alone need no facts


@pytest.mark.parametrize(
    ("selector", "field"),
    [
        ("    memoryAtLeast: 4GB\n", "spec.siteSelector.memoryAtLeast"),
        ("    accelerator: tpu\n", "spec.siteSelector.accelerator"),
        ("    facts: {cpu: x86}\n", "spec.siteSelector.facts.cpu"),
        ("    cpusAtLeast: 0\n", "spec.siteSelector.cpusAtLeast"),
    ],
)
def test_bad_fact_selectors_name_the_field(selector: str, field: str) -> None:
    with pytest.raises(RepoInvalid) as caught:
        _repo(selector)
    text = str(caught.value)
    assert "all.yaml:" in text and field in text, text


def test_validation_checks_the_labels_only() -> None:
    assert repo_warnings(_repo("    matchLabels: {tier: edge}\n    facts: {arch: arm64}\n")) == []


def test_quantities() -> None:
    assert parse_bytes("4Gi") == 4 * GI and parse_bytes("512Mi") == 512 << 20
    assert parse_bytes("2G") == 2 * 10**9 and parse_bytes("1.5Gi") == 3 * GI // 2 and parse_bytes(10) == 10
    assert format_bytes(4 * GI) == "4Gi" and format_bytes(1000) == "1000"
    for bad in ("4GB", "-1", "Gi", "1e9", True, "9" * 20 + "Pi"):
        with pytest.raises(ValueError):
            parse_bytes(bad)
