"""Reading the repo: Git HEAD (not the work tree) with a Flux-style revision, or a plain folder
with a content hash; links are not followed, sizes are capped before reading, and a git that
does not answer is cut off. The commits the dashboard's revision history names (author, time,
subject), with unknown shas and text that is no sha left out rather than passed to git."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiedge.gitops import GitopsError, RepoInvalid, read_directory, read_git_head, read_source
from aiedge.gitops.limits import ReadLimits
from aiedge.gitops.source import commits, is_git_repo
from tests.gitops.helpers import git


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


def test_a_git_that_does_not_answer_is_cut_off(repo: Path) -> None:
    # a FIFO where git reads its alternates: every object lookup blocks until someone writes
    # to it, as a stalled network filesystem would; the read must give up, not hang the hub
    alternates = repo / ".git" / "objects" / "info" / "alternates"
    alternates.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(alternates)
    with pytest.raises(GitopsError, match=r"git ls-tree in .*: no answer within 1 s"):
        read_git_head(repo, git_head_sha(repo), limits=ReadLimits(git_timeout=1.0))


def git_head_sha(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def test_links_and_non_files_are_not_followed(tmp_path: Path, repo: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: aiedge.io/v1alpha1\nkind: Site\nmetadata: {name: stolen}\n")
    (repo / "sites" / "link.yaml").symlink_to(outside)
    os.mkfifo(repo / "sites" / "fifo.yaml")  # reading it would block for ever
    snap = read_directory(repo)
    assert "sites/link.yaml" not in snap.files and "sites/fifo.yaml" not in snap.files
    assert snap.skipped == {
        "sites/fifo.yaml": "not a regular file",
        "sites/link.yaml": "a symbolic link (not followed)",
    }
    (repo / "sites" / "fifo.yaml").unlink()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a link")
    head = read_git_head(repo)
    assert "sites/link.yaml" not in head.files
    assert head.skipped == {"sites/link.yaml": "a symbolic link (not followed)"}


def test_the_yaml_of_a_revision_is_capped_before_it_is_read(repo: Path) -> None:
    (repo / "big.yaml").write_bytes(b"# " + b"x" * 3000 + b"\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "big")
    limits = ReadLimits(max_repo_bytes=2048)
    for read in (read_directory, read_git_head):
        with pytest.raises(RepoInvalid) as e:
            read(repo, limits=limits)
        assert str(e.value).startswith("the YAML files of the repo add up to ")
        assert str(e.value).endswith("more than the 2.0 KiB aiedge reads")


def test_commits_name_author_time_and_subject(repo: Path, tmp_path: Path) -> None:
    git(repo, "commit", "-q", "--allow-empty", "-m", "second: roll out in waves")
    first, second = git(repo, "rev-parse", "HEAD~1"), git(repo, "rev-parse", "HEAD")
    unknown, hostile = "0" * 40, "--output=/tmp/x"
    found = commits(repo, [second, first, unknown, hostile])
    assert set(found) == {first, second}
    assert found[second].subject == "second: roll out in waves" and found[first].subject == "examples"
    assert found[second].author and found[second].committed_at.startswith("20")
    assert commits(tmp_path, [first]) == {}  # not a Git repo: nothing, no error
