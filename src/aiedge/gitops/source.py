"""Reading the repo's YAML files at one revision: Git HEAD through the git CLI (never the work
tree), or a plain directory. Owns the revision string; knows nothing of the kinds."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from aiedge.gitops.errors import GitopsError

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Snapshot:
    """The YAML files of the repo at one revision, by path relative to the root."""

    revision: str
    files: dict[str, bytes]


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError as e:
        raise GitopsError("git is not installed (the GitOps repo is read with the git CLI)") from e
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise GitopsError(f"git {args[0]} in {repo}: {msg}")
    return proc.stdout


def is_git_repo(path: Path) -> bool:
    """True when ``path`` is the top of a Git work tree or a bare repository (a folder inside
    some other repo's work tree is a plain directory)."""
    try:
        if _git(path, "rev-parse", "--is-bare-repository").decode().strip() == "true":
            return True
        top = _git(path, "rev-parse", "--show-toplevel").decode().strip()
    except GitopsError:
        return False
    return Path(top).resolve() == path.resolve()


def head_sha(repo: Path) -> str:
    """The full sha of HEAD (cheap: what the hub polls)."""
    try:
        return _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip()
    except GitopsError as e:
        raise GitopsError(f"{repo} has no commit at HEAD yet: {e}") from e


def head_revision(repo: Path, sha: str) -> str:
    """Flux style: ``BRANCH@sha1:SHA`` (``HEAD@sha1:...`` when detached)."""
    try:
        branch = _git(repo, "symbolic-ref", "-q", "--short", "HEAD").decode().strip()
    except GitopsError:
        branch = "HEAD"
    return f"{branch}@sha1:{sha}"


def read_git_head(repo: Path, sha: str | None = None) -> Snapshot:
    """The YAML files committed at HEAD (or at ``sha``), read with ``ls-tree`` and ``cat-file --batch``."""
    sha = sha or head_sha(repo)
    listing = _git(repo, "ls-tree", "-r", "-z", "--full-tree", sha)
    wanted: list[tuple[str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path_b = entry.partition(b"\t")
        _mode, kind, obj = meta.decode().split(" ")
        path = path_b.decode(errors="surrogateescape")
        if kind == "blob" and path.endswith(YAML_SUFFIXES):
            wanted.append((path, obj))
    files: dict[str, bytes] = {}
    if wanted:
        out = _git(repo, "cat-file", "--batch", stdin="".join(f"{o}\n" for _, o in wanted).encode())
        pos = 0
        for path, obj in wanted:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].decode().split(" ")
            if len(header) != 3 or header[0] != obj:
                raise GitopsError(f"git cat-file in {repo}: unexpected answer {header!r} for {path}")
            size = int(header[2])
            files[path] = out[nl + 1 : nl + 1 + size]
            pos = nl + 1 + size + 1
    return Snapshot(head_revision(repo, sha), files)


def read_directory(root: Path) -> Snapshot:
    """The YAML files under a plain directory (hidden folders such as .git skipped); the revision
    is a content hash, so it only changes when a file does."""
    if not root.is_dir():
        raise GitopsError(f"{root} is not a directory")
    files: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES):
                path = Path(dirpath) / name
                files[path.relative_to(root).as_posix()] = path.read_bytes()
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return Snapshot(f"sha256:{h.hexdigest()}", files)


def read_source(path: Path) -> Snapshot:
    """HEAD of a Git repo when ``path`` is one, else the directory's files."""
    return read_git_head(path) if is_git_repo(path) else read_directory(path)


def revision_sha(revision: str) -> str | None:
    """The commit sha of a ``BRANCH@sha1:SHA`` revision (None for a directory's content hash)."""
    _, sep, sha = revision.rpartition("@sha1:")
    return sha if sep else None


def is_ancestor(repo: Path, older: str, newer: str) -> bool:
    """True when commit ``older`` is an ancestor of ``newer`` in ``repo`` (False when either is
    unknown there): a hub that lags behind another must not publish its older HEAD."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
        )
    except FileNotFoundError:
        return False
    return proc.returncode == 0
