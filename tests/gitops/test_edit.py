"""`set_app_image`: a round-trip edit of one App's image (comments kept) committed with git,
returning the new commit; errors name the repo."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.gitops import GitopsError, load_repo, read_git_head, set_app_image
from tests.gitops.conftest import git

DIGEST = "sha256:" + "12" * 32


def test_sets_digest_keeps_comments_and_commits(repo: Path) -> None:
    before = (repo / "apps" / "housing.yaml").read_text()
    sha = set_app_image(repo, "housing", "127.0.0.1:5000/aiedge/tensorflow-housing", DIGEST, "build: housing")
    assert sha == git(repo, "rev-parse", "HEAD")
    assert git(repo, "log", "-1", "--format=%s") == "build: housing"
    after = (repo / "apps" / "housing.yaml").read_text()
    assert after.replace(f"    digest: {DIGEST}\n", "") == before
    assert git(repo, "status", "--porcelain") == ""
    loaded = load_repo(read_git_head(repo))
    assert loaded.apps["housing"].spec.image.digest == DIGEST
    assert loaded.revision == f"main@sha1:{sha}"
    # again with the same image: no new commit
    assert set_app_image(repo, "housing", "127.0.0.1:5000/aiedge/tensorflow-housing", DIGEST, "again") == sha
    # a new digest replaces the old in place
    other = "sha256:" + "34" * 32
    sha2 = set_app_image(repo, "housing", "127.0.0.1:5000/aiedge/tensorflow-housing", other, "v2")
    assert sha2 != sha and other in (repo / "apps" / "housing.yaml").read_text()
    assert DIGEST not in (repo / "apps" / "housing.yaml").read_text()


def test_commits_without_configured_identity(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    set_app_image(repo, "housing", "127.0.0.1:5000/x/y", DIGEST, "m")
    assert git(repo, "log", "-1", "--format=%an <%ae>") == "aiedge <aiedge@localhost>"


def test_unknown_app_and_bad_digest_name_the_repo(repo: Path) -> None:
    with pytest.raises(GitopsError, match=f"no App named 'ghost' in the GitOps repo {repo}"):
        set_app_image(repo, "ghost", "127.0.0.1:5000/x/y", DIGEST, "m")
    with pytest.raises(GitopsError, match="sha256:<64 hex digits>"):
        set_app_image(repo, "housing", "127.0.0.1:5000/x/y", "sha256:zz", "m")
