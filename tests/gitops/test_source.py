"""Reading the repo: Git HEAD (not the work tree) with a Flux-style revision, or a plain folder
with a content hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.gitops import GitopsError, read_directory, read_git_head, read_source
from aiedge.gitops.source import is_git_repo
from tests.gitops.conftest import git


def test_git_head_not_work_tree(repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    (repo / "sites" / "site-d.yaml").write_text("uncommitted: true\n")
    (repo / "apps" / "housing.yaml").write_text("changed: in the work tree only\n")
    snap = read_git_head(repo)
    assert snap.revision == f"main@sha1:{sha}"
    assert "sites/site-d.yaml" not in snap.files
    assert b"tensorflow-housing" in snap.files["apps/housing.yaml"]
    assert set(snap.files) == {
        "apps/housing.yaml",
        "placements/near-edge.yaml",
        "sites/site-a.yaml",
        "sites/site-b.yaml",
        "sites/site-c.yaml",
    }
    assert read_source(repo).revision == snap.revision


def test_directory_revision_is_a_content_hash(tmp_path: Path, repo: Path) -> None:
    one = read_directory(repo)
    assert one.revision.startswith("sha256:") and ".git" not in "".join(one.files)
    assert read_directory(repo).revision == one.revision
    (repo / "more.yml").write_text("a: 1\n")
    assert read_directory(repo).revision != one.revision
    sub = repo / "apps"
    assert not is_git_repo(sub) and is_git_repo(repo)


def test_empty_repo_is_a_clear_error(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    with pytest.raises(GitopsError, match="no commit at HEAD"):
        read_git_head(tmp_path)
