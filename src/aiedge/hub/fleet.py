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
import contextlib
import itertools
import logging
import math
from collections.abc import Callable, Hashable
from pathlib import Path

from aiedge.contracts import DesiredApp, DesiredState, SiteFacts
from aiedge.gitops import (
    GitopsError,
    GitopsRepo,
    ParseCache,
    RepoInvalid,
    Snapshot,
    awaiting_build,
    load_repo,
)
from aiedge.gitops.desired import sharing_key, site_link
from aiedge.gitops.source import (
    head_sha,
    is_ancestor,
    is_git_repo,
    read_directory,
    read_git_head,
    revision_sha,
)
from aiedge.hub import banner as bn
from aiedge.hub import rollouts as ro
from aiedge.hub.banner import Banner
from aiedge.hub.clock import Clock
from aiedge.hub.errors import NoRevision, NoSuchRollout, ShuttingDown
from aiedge.hub.facts import FactWatch, facts_of, uses_facts
from aiedge.hub.removals import Guard, HeldRemoval, held_removals
from aiedge.hub.revision import Revision, apps_json, pack_files, parse_apps, state_digest, unpack_files
from aiedge.hub.rollouts import RolloutCommandRefused
from aiedge.hub.rollouts.model import PROGRESSING, SHAPING, SUPERSEDED
from aiedge.hub.settings import WAKE_RATE
from aiedge.hub.store import Store, Transaction

log = logging.getLogger("aiedge.hub")
WAKE_CHUNK = 256  # sites whose held polls are woken in one turn of the event loop, at most


def _resolve(waiter: asyncio.Future[bool], value: bool) -> None:
    if not waiter.done():
        waiter.set_result(value)


class Fleet:
    """Follows the GitOps source, publishes into the store, and wakes long polls on changes."""

    def __init__(
        self,
        source: Path,
        clock: Clock,
        store: Store,
        guard: Guard | None = None,
        wake_rate: float = WAKE_RATE,
    ) -> None:
        self.source = source
        self.wake_rate = wake_rate
        self.clock = clock
        self.store = store
        self.guard = guard or Guard()
        self.current: Revision | None = None
        self.banner: Banner | None = None  # why HEAD is not what is served, when it is not
        self.error: str | None = None
        self.error_revision: str | None = None
        self._attempted: str | None = None
        self._last_read: GitopsRepo | None = None
        self._parse_cache = ParseCache()  # a commit re-parses only the files it changed
        self._generation = -1
        self._apps: dict[str, tuple[list[DesiredApp], str]] = {}
        # long polls waiting for the next change, by site: futures resolved on a change of their
        # site or by their own timer (no task, no cancellation, no exception per poll: thousands
        # of sites renew a poll every 30 s, and exceptions' tracebacks are cycles the collector
        # must chase). Only the sites a sync changed are woken: a rollout step or one site's
        # facts must not wake 10,000 polls to find their own state unchanged.
        self._waiters: dict[str, set[asyncio.Future[bool]]] = {}
        self._sync_wanted = asyncio.Event()
        self._poll_wanted = False
        self._sync_lock = asyncio.Lock()
        # sites whose held polls are to be woken (an ordered set), and the task that wakes them
        # at the wake rate: outside the sync lock, so a commit's wake of the whole fleet (3 s at
        # 10,000 sites) holds back no next commit, rollout step or operator command
        self._to_wake: dict[str, None] = {}
        self._waker: asyncio.Task[None] | None = None
        self._closing = False
        self._on_close: list[Callable[[], None]] = []
        self._facts = FactWatch()

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
        return load_repo(snapshot, cache=self._parse_cache), snapshot

    def _say(self, banner: Banner | None) -> None:
        self.banner = banner
        self.error = banner.message if banner else None
        self.error_revision = banner.revision if banner else None

    async def refresh(self) -> bool:
        """One poll: True when a new valid revision was published and is now served."""
        try:
            found = await asyncio.to_thread(self._read)
        except RepoInvalid as e:
            self._say(bn.invalid(e, self.revision))
            log.error(
                "revision %s is invalid, still serving %s:\n%s", e.revision, self.revision or "nothing", e
            )
            return False
        except GitopsError as e:
            self._say(bn.unreadable(e, self.revision))
            log.error("cannot read the GitOps repo %s: %s", self.source, e)
            self._attempted = None  # try again on the next poll
            return False
        if found is None:
            return False
        repo, snapshot = found
        self._last_read = repo
        held = await asyncio.to_thread(self._publish, repo, snapshot)
        if held:
            self._say(bn.held(repo.revision, held, self.revision))
            log.error("revision %s is held, still serving %s: %s", repo.revision, self.revision, self.error)
            return False
        self._say(None)
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
            return load_repo(Snapshot(revision, unpack_files(files)), cache=self._parse_cache)
        except GitopsError:
            return None

    def _publish(self, repo: GitopsRepo, snapshot: Snapshot) -> list[HeldRemoval]:
        """Blocking: make ``repo`` the published revision unless it already is, another hub
        already published a newer commit, or it removes apps without saying so (those removals
        are returned, nothing is published); start rollouts for changed versions."""
        now = self.clock()
        with self.store.transaction() as tx:
            published = tx.lock_fleet()
            if published.revision == repo.revision:
                return []
            if self._older_than_published(published.revision, repo.revision):
                log.info("revision %s is older than the published %s", repo.revision, published.revision)
                return []
            old = self._published_repo(published.revision, published.files)
            reports = tx.reports_of()
            facts = facts_of(reports)
            held = held_removals(old, repo, self.guard, facts)
            if held:
                return held
            shaping = tx.rollouts(SHAPING)
            serving = {site: {a.name: a.digest for a in rep.apps} for site, (_, rep) in reports.items()}
            started = ro.start_rollouts(old, repo, shaping, tx.desired_apps(), serving, now, facts)
            for r in shaping:
                if r.state == SUPERSEDED:
                    tx.save_rollout(r)
            for r in started:
                tx.add_rollout(r)
                log.info("rollout of %s started: %s -> %s", r.app, r.from_digest, r.to_digest)
            self._write_states(tx, repo, None)
            tx.publish(repo.revision, pack_files(snapshot.files), now)
        waiting = awaiting_build(repo)
        note = f"; awaiting first build: {', '.join(waiting)}" if waiting else ""
        log.info("published revision %s (%s)%s", repo.revision, repo.summary(), note)
        return []

    @staticmethod
    def _relevant(tx: Transaction, repo: GitopsRepo) -> list[ro.Rollout]:
        found = ro.relevant(tx.rollouts(SHAPING), repo)
        for r in found:  # the policy as Git says now (paused, deadlines, budget)
            spec = repo.placements[r.placement].spec.rollout
            if spec is not None and spec != r.spec and len(spec.waves) == len(r.spec.waves):
                r.spec = spec
        return found

    def _write_states(self, tx: Transaction, repo: GitopsRepo, only: set[str] | None) -> None:
        holdbacks = ro.Holdbacks(self._relevant(tx, repo))
        known = tx.desired_digests()
        # the reports are read only for a repo that places on facts: most fleets never pay for it
        facts = facts_of(tx.reports_of(only)) if uses_facts(repo) else {}
        changed: dict[str, tuple[str, str]] = {}
        # sites mostly share their apps: a digest is computed once per apps and link (the JSON
        # is the apps' stored form, so equal JSON is equal apps); 0.17 s of 10,000 sites' publish
        digests: dict[tuple[str, int | None, bool | None], str] = {}
        # and sites with equal sharing keys (labels, facts, windows) get equal apps: rendered
        # once per key, not per site, unless a rollout holds the site back
        rendered: dict[Hashable, tuple[list[DesiredApp], str]] = {}
        for site in repo.sites if only is None else only:
            if site not in repo.sites:
                continue
            site_facts = facts.get(site)
            key = None if site in holdbacks.sites else sharing_key(repo, site, site_facts)
            hit = rendered.get(key) if key is not None else None
            if hit is None:
                apps = holdbacks.apps_for(repo, site, site_facts)
                hit = (apps, apps_json(apps))
                if key is not None:
                    rendered[key] = hit
            apps, body = hit
            link = site_link(repo, site)
            same = (body, link.budget, link.metered) if link is not None else (body, None, None)
            digest = digests.get(same)
            if digest is None:
                digest = digests[same] = state_digest(apps, link)
            if known.get(site) != digest:
                changed[site] = (digest, body)
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

    def _rewrite_sites(self, sites: set[str]) -> bool:
        """Blocking: the desired states of ``sites`` again, at the published revision, from the facts
        they last reported; True when the revision is still the one served."""
        cur = self.current
        if cur is None:
            return False
        with self.store.transaction() as tx:
            if tx.lock_fleet().revision != cur.repo.revision:
                return False  # a newer revision is being published; it reads the facts itself
            self._write_states(tx, cur.repo, sites)
        return True

    async def facts_reported(self, site: str, facts: SiteFacts | None) -> None:
        """A site reported ``facts``: when they change which fact selectors it meets, its desired
        state is computed again before this returns (and its held polls woken right after)."""
        cur = self.current
        if cur is None or not self._facts.changed(cur.repo, site, facts):
            return
        if await asyncio.to_thread(self._rewrite_sites, {site}):
            await self.sync()

    async def step_rollouts(self) -> None:
        if await asyncio.to_thread(self._step_rollouts):
            await self.sync()

    def _command(self, app: str, action: str, placement: str | None) -> tuple[list[str], list[ro.Rollout]]:
        """Blocking: apply an operator's ``action`` to the rollouts of ``app`` that shape desired
        states now (one placement's, when given); what happened and the rollouts after it."""
        cur = self.current
        if cur is None:
            raise NoRevision(f"no valid GitOps revision loaded yet: {self.error or 'not read yet'}")
        now = self.clock()
        with self.store.transaction() as tx:
            if tx.lock_fleet().revision != cur.repo.revision:
                raise RolloutCommandRefused("a new GitOps revision is being published: try again")
            found = [r for r in self._relevant(tx, cur.repo) if r.app == app]
            if placement is not None:
                found = [r for r in found if r.placement == placement]
            if not found:
                raise NoSuchRollout(f"no rollout of app {app!r} under way, stopped or aborted")
            said = [ro.apply(action, r, now) for r in found]
            sites: set[str] = set()
            for r in found:
                tx.save_rollout(r)
                sites.update(r.sites)
                log.info("%s", said[found.index(r)])
            self._write_states(tx, cur.repo, sites)
        return said, found

    async def command(
        self, app: str, action: str, placement: str | None = None
    ) -> tuple[list[str], list[ro.Rollout]]:
        said, found = await asyncio.to_thread(self._command, app, action, placement)
        await self.sync()
        return said, found

    # -- serving what is published -------------------------------------------------------------

    def _load(self) -> tuple[Revision | None, int, list[tuple[str, str, list[DesiredApp]]]] | None:
        """Blocking: what changed in the database since our generation; None when nothing."""
        revision, generation = self.store.fleet_state()
        if generation == self._generation:
            return None
        parsed: dict[str, list[DesiredApp]] = {}  # sites mostly share their apps: parse each once
        rows = [
            (site, digest, parsed.get(apps) or parsed.setdefault(apps, parse_apps(apps)))
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
            if fresh is not None:  # a new revision: any site may have come or gone
                self._wake_later(list(self._waiters))
            else:
                self._wake_later([site for site, _, _ in rows])
            return True

    def _wake_later(self, sites: list[str]) -> None:
        """Have the held polls of ``sites`` woken by the waker task (see :meth:`_wake_paced`)."""
        if not sites:
            return
        self._to_wake.update(dict.fromkeys(sites))
        if self._waker is None or self._waker.done():
            self._waker = asyncio.get_running_loop().create_task(self._wake_paced())

    async def _wake_paced(self) -> None:
        """Wake the held polls of the sites to wake, at most ``wake_rate`` sites a second, in
        chunks of up to :data:`WAKE_CHUNK` (a tenth of a second's worth) with the event loop free
        in between; sites added meanwhile join the same run. A commit wakes every held poll of
        the fleet, and each woken site comes straight back with a new poll. Woken at once,
        10,000 answers ran in one turn of the loop, and the 10,000 polls that came back in the
        next ones, while status posts waited behind them (posts took up to 2.4 s). A turn per
        chunk let them in between, but the herd still took the whole core for two seconds
        (posts up to 0.9-2 s, p99 0.9 s). Spread at 3,000 sites a second, 10,000 sites all know
        in about 4 s, and a post waits for a chunk at most."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        chunk = max(1, min(WAKE_CHUNK, int(self.wake_rate / 10)))
        woken = 0
        while self._to_wake:
            sites = list(itertools.islice(self._to_wake, chunk))
            for site in sites:
                del self._to_wake[site]
            self._wake(sites, True)
            woken += len(sites)
            if self._to_wake:
                await asyncio.sleep(max(0.0, start + woken / self.wake_rate - loop.time()))

    def _wake(self, sites: list[str], value: bool) -> None:
        for site in sites:
            for w in self._waiters.pop(site, ()):
                if not w.done():
                    w.set_result(value)

    def end_polls(self, site: str) -> None:
        """End the site's held polls now, unchanged (304): a request for it is waiting
        (:class:`~aiedge.hub.site_requests.SiteRequests`), which the answer says."""
        self._wake([site], False)

    @property
    def held_polls(self) -> int:
        """Long polls waiting for a change now."""
        return sum(len(held) for held in self._waiters.values())

    @property
    def closing(self) -> bool:
        """The hub is stopping: held polls of any kind end now."""
        return self._closing

    def on_close(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the hub stops (:meth:`close`): other held polls end too."""
        self._on_close.append(hook)

    def close(self) -> None:
        """The hub is stopping: every held long poll (and any new one) ends with :class:`ShuttingDown`."""
        self._closing = True
        for hook in self._on_close:
            hook()
        if self._waker is not None:
            self._waker.cancel()
        self._to_wake.clear()
        self._wake(list(self._waiters), False)

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
            held = self._waiters.setdefault(site, set())
            held.add(waiter)
            try:
                if not await waiter:
                    if self._closing:
                        raise ShuttingDown("the hub is shutting down: poll again")
                    return None
            finally:
                timer.cancel()
                held.discard(waiter)
                if not held and self._waiters.get(site) is held:
                    del self._waiters[site]
