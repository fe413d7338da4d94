"""`set_app_image` and `update_app`: a round-trip edit of one App's image, test and model
(comments kept) committed with git as one commit, returning it; errors name the repo and the
App's position."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiedge.contracts import SmokeTest
from aiedge.gitops import GitopsError, load_repo, read_git_head, set_app_image
from aiedge.gitops.edit import AppUpdate, update_app
from tests.gitops.helpers import git

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


def test_update_writes_test_and_model_in_one_commit_keeping_comments(repo: Path) -> None:
    app = repo / "apps" / "housing.yaml"
    before = app.read_text()
    test = SmokeTest(
        path="/v2/models/housing-v2/infer",
        request={"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1.5, 2.0]}]},
        response={"outputs": [{"name": "y", "data": [3.25]}]},
        rtol=1e-3,
    )
    update = AppUpdate("127.0.0.1:5000/aiedge/housing", DIGEST, test=test, model="housing-v2")
    sha = update_app(repo, "housing", update, "build: housing-v2")
    assert git(repo, "rev-list", "--count", "HEAD") == "2"
    after = app.read_text()
    # the digest goes under the repository, above the comment that introduces the test
    assert f"aiedge/housing\n    digest: {DIGEST}\n  # every site replays this request" in after
    assert after.count("#") == before.count("#")
    assert "    path: /v2/models/housing-v2/infer\n    request: {inputs: [{name: x, shape: [1, 2]" in after
    spec = load_repo(read_git_head(repo)).apps["housing"].spec
    assert spec.model == "housing-v2" and spec.test is not None and spec.test.rtol == 1e-3
    assert spec.test.response == {"outputs": [{"name": "y", "data": [3.25]}]}
    assert update_app(repo, "housing", update, "again") == sha  # nothing new: no commit
    # a test on the protocol's default path is written without a path
    default = test.model_copy(update={"path": "/v1/models/housing-v2/versions/1:predict"})
    update_app(repo, "housing", AppUpdate("127.0.0.1:5000/aiedge/housing", DIGEST, test=default), "m")
    assert load_repo(read_git_head(repo)).apps["housing"].spec.test.path is None  # type: ignore[union-attr]


def test_an_invalid_app_is_named_with_its_position(repo: Path) -> None:
    app = repo / "apps" / "housing.yaml"
    app.write_text(app.read_text().replace("port: 8080", "port: eighty"))
    with pytest.raises(GitopsError, match=r"apps/housing.yaml:11:9: App 'housing' is invalid: spec.port"):
        set_app_image(repo, "housing", "127.0.0.1:5000/x/y", DIGEST, "m")
