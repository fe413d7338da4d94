"""The fleet's desired state as the hub serves it: the last good GitOps revision, the error of
the last bad one, the poll loop that follows the repo's HEAD, and the long-poll wait for a
site's desired state to change. A revision that does not validate never replaces a good one."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiedge.contracts import DesiredState
from aiedge.gitops import GitopsError, GitopsRepo, RepoInvalid, awaiting_build, desired_for_site, load_repo
from aiedge.gitops.source import head_sha, is_git_repo, read_directory, read_git_head
from aiedge.hub.clock import Clock
from aiedge.hub.errors import NoRevision

log = logging.getLogger("aiedge.hub")


@dataclass
class Revision:
    """One valid revision and the desired state of each site, computed once on demand."""

    repo: GitopsRepo
    loaded_at: datetime
    _desired: dict[str, tuple[DesiredState, str]] = field(default_factory=dict)

    def desired(self, site: str) -> tuple[DesiredState, str]:
        """The site's desired state and its digest; :class:`UnknownSite` if not defined."""
        hit = self._desired.get(site)
        if hit is None:
            state = desired_for_site(self.repo, site)
            hit = self._desired[site] = (state, state.digest)
        return hit


class Fleet:
    """Follows the GitOps source and wakes long polls when a new revision is loaded."""

    def __init__(self, source: Path, clock: Clock) -> None:
        self.source = source
        self.clock = clock
        self.current: Revision | None = None
        self.error: str | None = None
        self.error_revision: str | None = None
        self._attempted: str | None = None
        self._changed = asyncio.Event()

    @property
    def revision(self) -> str | None:
        return self.current.repo.revision if self.current else None

    def _read(self) -> GitopsRepo | None:
        """Blocking: read and validate the source if HEAD moved; None when unchanged."""
        if is_git_repo(self.source):
            sha = head_sha(self.source)
            if sha == self._attempted:
                return None
            self._attempted = sha
            snapshot = read_git_head(self.source, sha)
        else:
            snapshot = read_directory(self.source)
            if snapshot.revision == self._attempted:
                return None
            self._attempted = snapshot.revision
        return load_repo(snapshot)

    async def refresh(self) -> bool:
        """One poll: True when a new valid revision replaced the current one."""
        try:
            repo = await asyncio.to_thread(self._read)
        except RepoInvalid as e:
            self.error, self.error_revision = e.summary(), e.revision
            log.error(
                "revision %s is invalid, still serving %s:\n%s", e.revision, self.revision or "nothing", e
            )
            return False
        except GitopsError as e:
            self.error, self.error_revision = str(e), None
            log.error("cannot read the GitOps repo %s: %s", self.source, e)
            self._attempted = None  # try again on the next poll
            return False
        if repo is None:
            return False
        self.current = Revision(repo, self.clock())
        self.error = self.error_revision = None
        waiting = awaiting_build(repo)
        note = f"; awaiting first build: {', '.join(waiting)}" if waiting else ""
        log.info("serving revision %s (%s)%s", repo.revision, repo.summary(), note)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return True

    async def run(self, interval: float) -> None:
        """Poll until cancelled."""
        while True:
            await asyncio.sleep(interval)
            await self.refresh()

    def poll_now(self) -> asyncio.Task[bool]:
        """Start a poll at once (the webhook)."""
        return asyncio.ensure_future(self.refresh())

    def desired(self, site: str) -> tuple[DesiredState, str]:
        if self.current is None:
            raise NoRevision(f"no valid GitOps revision loaded yet: {self.error or 'not read yet'}")
        return self.current.desired(site)

    async def wait_desired(
        self, site: str, after: str | None, wait: float
    ) -> tuple[DesiredState, str] | None:
        """The site's desired state once its digest differs from ``after``; None after ``wait``
        seconds without a change."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            state, digest = self.desired(site)
            if digest != after:
                return state, digest
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return None
