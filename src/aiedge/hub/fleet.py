"""The fleet's desired state as the hub serves it: the poll loop that follows the repo's HEAD, the
publishing of each new good revision (and of every rollout step) into the database, the sync that
brings any hub process up to the published state, and the long-poll wait for a site's desired
state to change. A revision that does not validate never replaces a good one.

Several hub processes may share one PostgreSQL database: whichever sees a new revision first
publishes it (rendered desired states included) under a row lock and NOTIFYs; every hub, the
publisher included, serves only what it read back from the database, so all agree. Nothing another
hub needs lives only in memory here.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
from datetime import datetime
from pathlib import Path

import orjson

from aiedge.contracts import DesiredApp, DesiredState
from aiedge.gitops import (
    GitopsError,
    GitopsRepo,
    RepoInvalid,
    Snapshot,
    UnknownSite,
    awaiting_build,
    desired_for_site,
    load_repo,
)
from aiedge.gitops.source import (
    head_sha,
    is_ancestor,
    is_git_repo,
    read_directory,
    read_git_head,
    revision_sha,
)
from aiedge.hub import rollouts as ro
from aiedge.hub.clock import Clock
from aiedge.hub.errors import NoRevision, ShuttingDown
from aiedge.hub.rollouts.model import FAILED, PROGRESSING, SUPERSEDED
from aiedge.hub.store import Store, Transaction

log = logging.getLogger("aiedge.hub")


def _apps_json(apps: list[DesiredApp]) -> str:
    return orjson.dumps([a.model_dump(mode="json") for a in apps]).decode()


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


def _parse_apps(apps: str) -> list[DesiredApp]:
    return [DesiredApp.model_validate(a) for a in orjson.loads(apps)]


def _digest(apps: list[DesiredApp]) -> str:
    return DesiredState(site="-", revision="-", apps=apps).digest


def _pack(files: dict[str, bytes]) -> bytes:
    return orjson.dumps({p: base64.b64encode(b).decode() for p, b in files.items()})


def _unpack(blob: bytes) -> dict[str, bytes]:
    raw: dict[str, str] = orjson.loads(blob)
    return {p: base64.b64decode(b) for p, b in raw.items()}


def published_repo(store: Store) -> GitopsRepo | None:
    """Blocking: the revision the hubs on this database serve; None before the first publish."""
    revision, files, _ = store.fleet_files()
    if revision is None or files is None:
        return None
    return load_repo(Snapshot(revision, _unpack(files)))


class Revision:
    """The published revision and each site's desired state at it (built once per sync)."""

    def __init__(self, repo: GitopsRepo, loaded_at: datetime, apps: dict[str, tuple[list[DesiredApp], str]]):
        self.repo = repo
        self.loaded_at = loaded_at
        self._apps = apps
        self._desired: dict[str, tuple[DesiredState, str]] = {}

    def desired(self, site: str) -> tuple[DesiredState, str]:
        """The site's desired state and its digest; :class:`UnknownSite` if not defined."""
        hit = self._desired.get(site)
        if hit is None:
            if site not in self.repo.sites:
                raise UnknownSite(site, self.repo.revision)
            found = self._apps.get(site)
            if found is None:  # published after this sync began: render it (no rollout applies)
                state = desired_for_site(self.repo, site)
                hit = (state, state.digest)
            else:
                state = DesiredState(site=site, revision=self.repo.revision, apps=found[0])
                hit = (state, found[1])
            self._desired[site] = hit
        return hit


class Fleet:
    """Follows the GitOps source, publishes into the store, and wakes long polls on changes."""

    def __init__(self, source: Path, clock: Clock, store: Store) -> None:
        self.source = source
        self.clock = clock
        self.store = store
        self.current: Revision | None = None
        self.error: str | None = None
        self.error_revision: str | None = None
        self._attempted: str | None = None
        self._last_read: GitopsRepo | None = None
        self._generation = -1
        self._apps: dict[str, tuple[list[DesiredApp], str]] = {}
        # long polls waiting for the next change: futures resolved on a change or by their own
        # timer (no task, no cancellation, no exception per poll: thousands of sites renew a poll
        # every 30 s, and exceptions' tracebacks are cycles the collector must chase)
        self._waiters: set[asyncio.Future[bool]] = set()
        self._sync_wanted = asyncio.Event()
        self._poll_wanted = False
        self._sync_lock = asyncio.Lock()
        self._closing = False

    @property
    def revision(self) -> str | None:
        return self.current.repo.revision if self.current else None

    # -- following the source ----------------------------------------------------------------

    def _read(self) -> tuple[GitopsRepo, Snapshot] | None:
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
        return load_repo(snapshot), snapshot

    async def refresh(self) -> bool:
        """One poll: True when a new valid revision was published and is now served."""
        try:
            found = await asyncio.to_thread(self._read)
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
        if found is None:
            return False
        repo, snapshot = found
        self._last_read = repo
        self.error = self.error_revision = None
        await asyncio.to_thread(self._publish, repo, snapshot)
        before = self.revision
        await self.sync()
        return self.revision != before

    def _older_than_published(self, published: str | None, ours: str) -> bool:
        if published is None:
            return False
        a, b = revision_sha(ours), revision_sha(published)
        return a is not None and b is not None and is_ancestor(self.source, a, b)

    def _published_repo(self, revision: str | None, files: bytes | None) -> GitopsRepo | None:
        if revision is None or files is None:
            return None
        for known in (self.current.repo if self.current else None, self._last_read):
            if known is not None and known.revision == revision:
                return known
        try:
            return load_repo(Snapshot(revision, _unpack(files)))
        except GitopsError:
            return None

    def _publish(self, repo: GitopsRepo, snapshot: Snapshot) -> None:
        """Blocking: make ``repo`` the published revision unless it already is, or another hub
        already published a newer commit; start rollouts for changed digests."""
        now = self.clock()
        with self.store.transaction() as tx:
            published = tx.lock_fleet()
            if published.revision == repo.revision:
                return
            if self._older_than_published(published.revision, repo.revision):
                log.info("revision %s is older than the published %s", repo.revision, published.revision)
                return
            old = self._published_repo(published.revision, published.files)
            under_way = tx.rollouts((PROGRESSING,))
            started = ro.start_rollouts(old, repo, under_way, now)
            for r in under_way:
                if r.state == SUPERSEDED:
                    tx.save_rollout(r)
            for r in started:
                tx.add_rollout(r)
                log.info("rollout of %s started: %s -> %s", r.app, r.from_digest, r.to_digest)
            self._write_states(tx, repo, None)
            tx.publish(repo.revision, _pack(snapshot.files), now)
        waiting = awaiting_build(repo)
        note = f"; awaiting first build: {', '.join(waiting)}" if waiting else ""
        log.info("published revision %s (%s)%s", repo.revision, repo.summary(), note)

    @staticmethod
    def _relevant(tx: Transaction, repo: GitopsRepo) -> list[ro.Rollout]:
        return ro.relevant(tx.rollouts((PROGRESSING, FAILED)), repo)

    def _write_states(self, tx: Transaction, repo: GitopsRepo, only: set[str] | None) -> None:
        holdbacks = ro.Holdbacks(self._relevant(tx, repo))
        known = tx.desired_digests()
        changed: dict[str, tuple[str, str]] = {}
        for site in repo.sites if only is None else only:
            if site not in repo.sites:
                continue
            apps = holdbacks.apps_for(repo, site)
            digest = _digest(apps)
            if known.get(site) != digest:
                changed[site] = (digest, _apps_json(apps))
        removed = [n for n in known if n not in repo.sites] if only is None else []
        tx.write_desired(changed, removed)

    # -- rollouts ------------------------------------------------------------------------------

    def _step_rollouts(self) -> bool:
        """Blocking: one step of every rollout under way; True when desired states changed."""
        cur = self.current
        if cur is None:
            return False
        with self.store.transaction() as tx:
            if not tx.any_rollout_in((PROGRESSING,)):
                return False
        now = self.clock()
        with self.store.transaction() as tx:
            if tx.lock_fleet().revision != cur.repo.revision:
                return False  # a newer revision is being synced; step after it
            rollouts = [r for r in self._relevant(tx, cur.repo) if r.state == PROGRESSING]
            sites: set[str] = set()
            for r in rollouts:
                sites.update(r.sites)
            reports = tx.reports_of(sites)
            digests = tx.desired_digests()
            moved = False
            for r in rollouts:
                moved |= ro.step(r, reports, digests, now)
                tx.save_rollout(r)
                if r.state != PROGRESSING:
                    log.info("rollout of %s to %s: %s", r.app, r.to_digest, r.state)
            if moved:
                self._write_states(tx, cur.repo, sites)
        return moved

    async def step_rollouts(self) -> None:
        if await asyncio.to_thread(self._step_rollouts):
            await self.sync()

    # -- serving what is published -------------------------------------------------------------

    def _load(self) -> tuple[Revision | None, int, list[tuple[str, str, list[DesiredApp]]]] | None:
        """Blocking: what changed in the database since our generation; None when nothing."""
        revision, generation = self.store.fleet_state()
        if generation == self._generation:
            return None
        parsed: dict[str, list[DesiredApp]] = {}  # sites mostly share their apps: parse each once
        rows = [
            (site, digest, parsed.get(apps) or parsed.setdefault(apps, _parse_apps(apps)))
            for site, digest, apps in self.store.desired_since(self._generation)
        ]
        fresh: Revision | None = None
        if revision is not None and revision != self.revision:
            revision, files, generation = self.store.fleet_files()
            repo = self._published_repo(revision, files)
            if repo is not None:
                fresh = Revision(repo, self.clock(), self._apps)
        return fresh, generation, rows

    async def sync(self) -> bool:
        """Bring this process up to the published state; wakes long polls when it changed."""
        async with self._sync_lock:
            loaded = await asyncio.to_thread(self._load)
            if loaded is None:
                return False
            fresh, generation, rows = loaded
            for site, digest, apps in rows:
                self._apps[site] = (apps, digest)
            if fresh is not None:
                self.current = fresh
                log.info("serving revision %s (%s)", fresh.repo.revision, fresh.repo.summary())
            elif self.current is not None:
                self.current = Revision(self.current.repo, self.current.loaded_at, self._apps)
            self._generation = generation
            waiters, self._waiters = self._waiters, set()
            for w in waiters:
                if not w.done():
                    w.set_result(True)
            return True

    @property
    def held_polls(self) -> int:
        """Long polls waiting for a change now."""
        return len(self._waiters)

    def close(self) -> None:
        """The hub is stopping: every held long poll (and any new one) ends with :class:`ShuttingDown`."""
        self._closing = True
        waiters, self._waiters = self._waiters, set()
        for w in waiters:
            if not w.done():
                w.set_result(False)

    def want_sync(self) -> None:
        """Ask the run loop to sync now (a NOTIFY from another hub)."""
        self._sync_wanted.set()

    async def run(self, interval: float, rollout_interval: float = 1.0) -> None:
        """Poll the source every ``interval``, sync on request or every ``interval``, step
        rollouts every ``rollout_interval``; until cancelled."""
        loop = asyncio.get_running_loop()
        next_poll = next_step = loop.time()
        last_poll = -math.inf
        spacing = min(1.0, interval)  # polls asked for (webhooks) come at most this often
        while True:
            if self._poll_wanted:
                next_poll = min(next_poll, last_poll + spacing)
            timeout = max(0.0, min(next_poll, next_step) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sync_wanted.wait(), timeout)
            self._sync_wanted.clear()
            try:
                await self.sync()
                if self._poll_wanted:
                    next_poll = min(next_poll, last_poll + spacing)
                if loop.time() >= next_poll:
                    self._poll_wanted = False  # calls from now on ask for the next poll
                    last_poll = loop.time()
                    next_poll = last_poll + interval
                    await self.refresh()
                if loop.time() >= next_step:
                    next_step = loop.time() + rollout_interval
                    await self.step_rollouts()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fleet loop: will retry")

    def poll_now(self) -> bool:
        """Ask the run loop to poll the source at once (the webhook); False when a poll was already
        waiting, which this call joins. However many calls come, at most one poll runs and one
        waits, and polls asked for come at most once a second: 3,000 webhook calls used to start
        3,000 git reads in the thread pool every request shares."""
        if self._poll_wanted:
            return False
        self._poll_wanted = True
        self._sync_wanted.set()
        return True

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
            if self._closing:
                raise ShuttingDown("the hub is shutting down: poll again")
            state, digest = self.desired(site)
            if digest != after:
                return state, digest
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            waiter: asyncio.Future[bool] = loop.create_future()
            timer = loop.call_later(remaining, _resolve, waiter, False)
            self._waiters.add(waiter)
            try:
                if not await waiter:
                    if self._closing:
                        raise ShuttingDown("the hub is shutting down: poll again")
                    return None
            finally:
                timer.cancel()
                self._waiters.discard(waiter)
