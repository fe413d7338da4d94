"""Reading the repo's YAML files at one revision: Git HEAD through the git CLI (never the work
tree), or a plain directory. Owns the revision string; knows nothing of the kinds.

A read is bounded: every git command is killed after ``ReadLimits.git_timeout``, the YAML files'
sizes are added up before any is read, and links and other non-files are never followed (a link
could lead out of the repo, a FIFO would block for ever); they are listed in ``skipped``."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from aiedge.gitops.errors import GitopsError, GitTimeout, Problem, RepoInvalid
from aiedge.gitops.limits import DEFAULT_LIMITS, ReadLimits, size_text

YAML_SUFFIXES = (".yaml", ".yml")
_LINK = "a symbolic link (not followed)"
_GIT_LINK_MODE = "120000"


@dataclass(frozen=True)
class Snapshot:
    """The YAML files of the repo at one revision, by path relative to the root; ``skipped``
    names the YAML paths that were not read, and why."""

    revision: str
    files: dict[str, bytes]
    skipped: dict[str, str] = field(default_factory=dict)


def _git(repo: Path, *args: str, stdin: bytes | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=stdin,
            capture_output=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
            timeout=limits.git_timeout,
        )
    except FileNotFoundError as e:
        raise GitopsError("git is not installed (the GitOps repo is read with the git CLI)") from e
    except subprocess.TimeoutExpired as e:
        raise GitTimeout(f"git {args[0]} in {repo}: no answer within {limits.git_timeout:g} s") from e
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip()
        raise GitopsError(f"git {args[0]} in {repo}: {msg}")
    return proc.stdout


def is_git_repo(path: Path, limits: ReadLimits = DEFAULT_LIMITS) -> bool:
    """True when ``path`` is the top of a Git work tree or a bare repository (a folder inside
    some other repo's work tree is a plain directory)."""
    try:
        if _git(path, "rev-parse", "--is-bare-repository", limits=limits).decode().strip() == "true":
            return True
        top = _git(path, "rev-parse", "--show-toplevel", limits=limits).decode().strip()
    except GitTimeout:
        raise
    except GitopsError:
        return False
    return Path(top).resolve() == path.resolve()


def head_sha(repo: Path, limits: ReadLimits = DEFAULT_LIMITS) -> str:
    """The full sha of HEAD (cheap: what the hub polls)."""
    try:
        return _git(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}", limits=limits).decode().strip()
    except GitTimeout:
        raise
    except GitopsError as e:
        raise GitopsError(f"{repo} has no commit at HEAD yet: {e}") from e


@dataclass(frozen=True)
class Commit:
    """Who made a commit, when, and its subject line (bounded: it is shown to people)."""

    sha: str
    author: str
    committed_at: str  # ISO 8601
    subject: str


_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def commits(repo: Path, shas: list[str], limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, Commit]:
    """The commits of ``shas`` that ``repo`` has (one ``git log --no-walk``; unknown ones left out,
    not an error: a force-push may have dropped them)."""
    wanted = sorted({s for s in shas if _SHA.match(s)})[:200]
    if not wanted or not is_git_repo(repo, limits):
        return {}
    fmt = "--format=%H%x00%an%x00%aI%x00%s"  # %s is one line: one commit per line
    out = _git(repo, "log", "--no-walk=unsorted", "--ignore-missing", fmt, *wanted, "--", limits=limits)
    found: dict[str, Commit] = {}
    for line in out.decode(errors="replace").splitlines():
        parts = line.split("\0")
        if len(parts) == 4:
            found[parts[0]] = Commit(parts[0], parts[1][:200], parts[2], parts[3][:300])
    return found


def head_revision(repo: Path, sha: str, limits: ReadLimits = DEFAULT_LIMITS) -> str:
    """Flux style: ``BRANCH@sha1:SHA`` (``HEAD@sha1:...`` when detached)."""
    try:
        branch = _git(repo, "symbolic-ref", "-q", "--short", "HEAD", limits=limits).decode().strip()
    except GitTimeout:
        raise
    except GitopsError:
        branch = "HEAD"
    return f"{branch}@sha1:{sha}"


def _check_total(total: int, revision: str, limits: ReadLimits) -> None:
    if total > limits.max_repo_bytes:
        message = (
            f"the YAML files of the repo add up to {size_text(total)}, more than the "
            f"{size_text(limits.max_repo_bytes)} aiedge reads"
        )
        raise RepoInvalid([Problem("", 0, 0, message)], revision)


def read_git_head(repo: Path, sha: str | None = None, *, limits: ReadLimits = DEFAULT_LIMITS) -> Snapshot:
    """The YAML files committed at HEAD (or at ``sha``), read with ``ls-tree`` and ``cat-file --batch``."""
    sha = sha or head_sha(repo, limits)
    listing = _git(repo, "ls-tree", "-r", "-z", "-l", "--full-tree", sha, limits=limits)
    wanted: list[tuple[str, str]] = []
    skipped: dict[str, str] = {}
    total = 0
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, path_b = entry.partition(b"\t")
        mode, kind, obj, listed_size = meta.decode().split()
        path = path_b.decode(errors="surrogateescape")
        if kind != "blob" or not path.endswith(YAML_SUFFIXES):
            continue
        if mode == _GIT_LINK_MODE:
            skipped[path] = _LINK
            continue
        wanted.append((path, obj))
        total += int(listed_size)
    revision = head_revision(repo, sha, limits)
    _check_total(total, revision, limits)
    files: dict[str, bytes] = {}
    if wanted:
        out = _git(
            repo, "cat-file", "--batch", stdin="".join(f"{o}\n" for _, o in wanted).encode(), limits=limits
        )
        pos = 0
        for path, obj in wanted:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].decode().split(" ")
            if len(header) != 3 or header[0] != obj:
                raise GitopsError(f"git cat-file in {repo}: unexpected answer {header!r} for {path}")
            size = int(header[2])
            files[path] = out[nl + 1 : nl + 1 + size]
            pos = nl + 1 + size + 1
    return Snapshot(revision, files, skipped)


def read_directory(root: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> Snapshot:
    """The YAML files under a plain directory (hidden folders such as .git skipped); the revision
    is a content hash, so it only changes when a file does."""
    if not root.is_dir():
        raise GitopsError(f"{root} is not a directory")
    found: list[tuple[str, Path]] = []
    skipped: dict[str, str] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.endswith(YAML_SUFFIXES):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                skipped[rel] = _LINK
            elif not stat.S_ISREG(info.st_mode):
                skipped[rel] = "not a regular file"
            else:
                found.append((rel, path))
                total += info.st_size
    _check_total(total, f"{root}", limits)
    files = {rel: path.read_bytes() for rel, path in found}
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return Snapshot(f"sha256:{h.hexdigest()}", files, skipped)


def read_source(path: Path, *, limits: ReadLimits = DEFAULT_LIMITS) -> Snapshot:
    """HEAD of a Git repo when ``path`` is one, else the directory's files."""
    if is_git_repo(path, limits):
        return read_git_head(path, limits=limits)
    return read_directory(path, limits=limits)


def revision_sha(revision: str) -> str | None:
    """The commit sha of a ``BRANCH@sha1:SHA`` revision (None for a directory's content hash)."""
    _, sep, sha = revision.rpartition("@sha1:")
    return sha if sep else None


def is_ancestor(repo: Path, older: str, newer: str, limits: ReadLimits = DEFAULT_LIMITS) -> bool:
    """True when commit ``older`` is an ancestor of ``newer`` in ``repo`` (False when either is
    unknown there): a hub that lags behind another must not publish its older HEAD."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), "merge-base", "--is-ancestor", older, newer],
            capture_output=True,
            check=False,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},
            timeout=limits.git_timeout,
        )
    except FileNotFoundError:
        return False
    except subprocess.TimeoutExpired as e:
        raise GitTimeout(f"git merge-base in {repo}: no answer within {limits.git_timeout:g} s") from e
    return proc.returncode == 0
