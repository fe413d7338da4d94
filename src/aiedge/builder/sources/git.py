"""Models from Git: ``git+https://host/repo.git@REF`` or ``git+file:///path/repo@REF``.

Uses the git CLI (its credential helpers, proxies and SSH config apply). Fetches only the one
commit (``--depth 1``) and falls back to a full fetch for servers that refuse a SHA by itself.
The commit SHA and commit time come back so the image records them and rebuilds are reproducible.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from aiedge.builder.errors import SourceError
from aiedge.builder.sources import FetchedSource, TransferProgress, redact, within

_TIMEOUT = 600.0


def parse_git_url(url: str) -> tuple[str, str | None]:
    """``git+URL[@REF]`` -> (URL git understands, REF or None for the remote's HEAD)."""
    raw = url.removeprefix("git+")
    parts = urlsplit(raw)
    if parts.scheme not in ("https", "http", "file", "ssh"):
        raise SourceError(f"{url}: git sources are git+https://, git+http://, git+ssh:// or git+file://")
    path, ref = parts.path, None
    if "@" in path:
        path, ref = path.rsplit("@", 1)
        if not ref:
            raise SourceError(f"{url}: empty ref after '@'")
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, "")), ref


def _git(args: list[str], cwd: Path, what: str) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", "-c", "advice.detachedHead=false", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as e:
        raise SourceError("git is not installed (needed for git+ sources)") from e
    except subprocess.TimeoutExpired as e:
        raise SourceError(f"{what}: git {args[0]} took over {_TIMEOUT:.0f}s") from e
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SourceError(f"{what}: git {args[0]} failed: {detail}")
    return done.stdout.strip()


def fetch_git(url: str, subdir: str | None, dest: Path, progress: TransferProgress) -> FetchedSource:
    remote, ref = parse_git_url(url)
    shown = redact(remote)
    where = f"{shown}@{ref}" if ref else shown
    progress.step(f"fetching {where}")
    work = dest / "git"
    work.mkdir(parents=True, exist_ok=True)
    _git(["init", "-q"], work, where)
    _git(["remote", "add", "origin", remote], work, where)
    want = ref or "HEAD"
    try:
        _git(["fetch", "-q", "--depth", "1", "--no-tags", "origin", want], work, where)
    except SourceError:
        # A commit SHA on a server without allow*SHA1InWant, or a short SHA: fetch all, then resolve.
        _git(["fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"], work, where)
        try:
            _git(["rev-parse", "--verify", "-q", f"{want}^{{commit}}"], work, where)
        except SourceError as e:
            raise SourceError(f"{where}: no branch, tag or commit {want!r} in the repo") from e
    else:
        want = "FETCH_HEAD"
    _git(["checkout", "-q", "--detach", want], work, where)
    sha = _git(["rev-parse", "HEAD"], work, where)
    epoch = int(_git(["show", "-s", "--format=%ct", "HEAD"], work, where))
    progress.step(f"{where} is commit {sha[:12]}")
    return FetchedSource(within(work, subdir, url), shown, revision=sha, epoch=epoch)
