"""The seed pipeline's last step through `aiedge build --gitops`: in a clone of the seed's GitOps
repo, `--app tensorflow-housing-app` (no such App, but an Argo CD app folder of that name) points
the kustomization's `images:` entry at the pushed digest in one commit that changes those two
lines only; `kubectl kustomize` then renders the new image."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from aiedge.demo.model import write_demo_model
from aiedge.gitops.edit import set_kustomization_image
from aiedge.gitops.errors import AppNotFound, GitopsError
from tests.gitops.helpers import git
from tests.support import aiedge_cmd

APP_DIR = "acm/odh-edge/apps/tensorflow-housing-app"


def _seed_clone(shared: Path, dest: Path) -> Path:
    shutil.copytree(shared / "seed-gitops", dest)
    for p in [dest, *dest.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)  # shared/ comes without write bits
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "the seed")
    return dest


def test_build_records_the_digest_in_the_seed_kustomization(
    shared: Path, tmp_path: Path, registry: str
) -> None:
    repo = _seed_clone(shared, tmp_path / "seedclone")
    before = git(repo, "rev-parse", "HEAD")
    done = subprocess.run(
        aiedge_cmd(
            "build",
            str(write_demo_model(tmp_path / "model")),
            "--name",
            "tensorflow-housing",
            "--image",
            f"{registry}/models/tensorflow-housing:1",
            "--gitops",
            str(repo),
            "--app",
            "tensorflow-housing-app",
            "--json",
        ),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    digest = json.loads(done.stdout.strip().splitlines()[-1])["digest"]
    assert git(repo, "rev-parse", "HEAD~1") == before
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == f"{APP_DIR}/kustomization.yaml"
    diff = git(repo, "diff", "-U0", "HEAD~1", "HEAD")
    changed = [ln for ln in diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == [
        "-    newName: quay.io/rhoai-edge/tensorflow-housing",
        "-    digest: sha256:8486af7728e1214ac5f81c6b93d560078d357f2096d1b40c38a9ac8e1cd68767",
        f"+    newName: {registry}/models/tensorflow-housing",
        f"+    digest: {digest}",
    ]
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(repo / APP_DIR)], capture_output=True, text=True, check=True
    ).stdout
    assert f"image: {registry}/models/tensorflow-housing@{digest}" in rendered
    # the same digest again: nothing to commit
    assert set_kustomization_image(
        repo, "tensorflow-housing-app", f"{registry}/models/tensorflow-housing", digest, "again"
    ) == git(repo, "rev-parse", "HEAD")


def test_no_app_and_no_kustomization(shared: Path, tmp_path: Path) -> None:
    repo = _seed_clone(shared, tmp_path / "seedclone")
    with pytest.raises(AppNotFound, match=r"no App named 'nosuch' and no kustomization\.yaml"):
        set_kustomization_image(repo, "nosuch", "r.example/x", "sha256:" + "a" * 64, "m")
    with pytest.raises(GitopsError, match="is not sha256"):
        set_kustomization_image(repo, "tensorflow-housing-app", "r.example/x", "sha256:zz", "m")
