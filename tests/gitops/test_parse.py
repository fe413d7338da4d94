"""Reading hostile YAML safely: alias bombs, anchors, deep nesting, huge files and endless
document streams are refused with file:line:col (or at the file) instead of hanging or eating
memory; files without aiedge documents are listed as ignored, never parsed."""

from __future__ import annotations

import subprocess

import pytest

from aiedge.gitops import RepoInvalid, Snapshot, load_repo
from aiedge.gitops.limits import ReadLimits
from tests.support import aiedge_cmd

SITE = "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: a}\n"


def alias_bomb() -> str:
    """An App of about 1.6 KB whose nested aliases expand to 9**12 strings."""
    lines = [
        "apiVersion: aiedge.io/v1alpha1",
        "kind: App",
        "metadata: {name: bomb}",
        "spec:",
        "  model: m",
        "  image: {repository: 127.0.0.1:5000/aiedge/m}",
        "  test:",
        "    response: {}",
        "    request:",
        '      level00: &level00 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for i in range(1, 13):
        lines.append(f"      level{i:02}: &level{i:02} [" + ", ".join([f"*level{i - 1:02}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _problems(files: dict[str, str | bytes], limits: ReadLimits | None = None) -> list[str]:
    snap = Snapshot("test", {k: v if isinstance(v, bytes) else v.encode() for k, v in files.items()})
    with pytest.raises(RepoInvalid) as e:
        load_repo(snap, limits or ReadLimits())
    return [str(p) for p in e.value.problems]


def test_an_alias_bomb_is_refused_at_its_first_anchor() -> None:
    bomb = alias_bomb()
    assert 1400 < len(bomb) < 1700
    assert _problems({"apps/bomb.yaml": bomb, "sites/a.yaml": SITE}) == [
        "apps/bomb.yaml:10:16: anchors and aliases (&level00) are not allowed in aiedge documents "
        "(a few bytes of them can expand into gigabytes)"
    ]


def test_the_alias_bomb_does_not_hang_validate(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path)) / "repo"
    (root / "apps").mkdir(parents=True)
    (root / "apps" / "bomb.yaml").write_text(alias_bomb())
    # before the fix this took more than 120 s (and gigabytes); the bound is only a backstop
    r = subprocess.run(aiedge_cmd("validate", "-g", str(root)), capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.startswith("apps/bomb.yaml:10:16: anchors and aliases (&level00) are not allowed")


def test_aliases_merge_keys_and_anchors_alone_are_refused() -> None:
    merge = SITE.replace(
        "metadata: {name: a}\n", "x: &base {tier: edge}\nmetadata: {name: a, labels: {<<: *base}}\n"
    )
    problems = _problems({"s.yaml": merge})
    assert problems == [
        "s.yaml:3:4: anchors and aliases (&base) are not allowed in aiedge documents "
        "(a few bytes of them can expand into gigabytes)"
    ]
    alias_only = "apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: *a}\n"
    assert _problems({"s.yaml": alias_only})[0].startswith("s.yaml:3:")


def test_anchors_in_other_documents_are_ignored_with_them() -> None:
    other = "apiVersion: v1\nkind: ConfigMap\ndata: &d {a: b}\nmore: *d\n---\n" + SITE
    repo = load_repo(Snapshot("t", {"mixed.yaml": other.encode()}))
    assert set(repo.sites) == {"a"}


def test_deep_nesting_is_a_position_not_a_crash() -> None:
    deep = SITE + "spec: " + "[" * 5000 + "]" * 5000 + "\n"
    (problem,) = _problems({"deep.yaml": deep})
    assert problem.startswith("deep.yaml:4:") and "nested deeper than 64 levels" in problem


def test_file_size_and_document_count_are_capped() -> None:
    limits = ReadLimits(max_file_bytes=4096, max_documents=10)
    big = SITE + "#" * (5 * 1024 - len(SITE) - 1) + "\n"
    assert _problems({"big.yaml": big}, limits) == [
        "big.yaml:1:1: the file is 5.0 KiB; a file with aiedge documents may be at most 4.0 KiB"
    ]
    many = SITE + "---\n" * 11
    (problem,) = _problems({"many.yaml": many}, limits)
    assert problem.startswith("many.yaml:") and "more than 10 YAML documents in one file" in problem
    # a big file with no aiedge document is not parsed at all: ignored, and said so
    repo = load_repo(
        Snapshot(
            "t", {"crd.yaml": b"kind: CustomResourceDefinition\n" + b"#" * 9000, "a.yaml": SITE.encode()}
        ),
        limits,
    )
    assert repo.ignored == {"crd.yaml": "no aiedge.io documents"}


def test_the_aiedge_bytes_of_a_revision_are_capped() -> None:
    limits = ReadLimits(max_parsed_bytes=200)
    files = {f"sites/{i}.yaml": SITE.replace("name: a", f"name: s{i}") for i in range(4)}
    (problem,) = _problems(files, limits)
    assert problem.startswith("sites/3.yaml:1:1: the revision's aiedge documents exceed 200 B")
