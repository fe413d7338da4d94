"""Helpers for the GitOps tests: the example repo, and git run with a fixed identity and no user
or system configuration."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support import REPO_ROOT

EXAMPLES = REPO_ROOT / "src" / "aiedge" / "demo" / "examples" / "gitops"  # also ./examples/gitops
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return out.stdout.strip()


def make_repo(dest: Path) -> Path:
    """A Git repo holding examples/gitops, one commit on main."""
    shutil.copytree(EXAMPLES, dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "examples")
    return dest
