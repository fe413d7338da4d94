"""The agent's main loop: three tasks over one reconciler.

- the poller long-polls the hub for the site's desired state (``after`` = the digest it has) and
  wakes the reconciler when the digest changes; hub trouble is logged once, retried with
  backoff and jitter, and never stops the site from serving;
- the reconcile loop runs a pass at start (serving the saved state at once, hub or no hub), on
  every new desired state and every poll interval (drift repair), and reports in a ``finally``;
- the reporter builds the status report every poll interval and posts it when it changed (and
  every ``status_refresh``): the polls are the heartbeat of a hub that announced one
  (:mod:`aiedge.agent.reporting`); to an older hub it posts every interval, as before;
- telemetry (:mod:`aiedge.agent.telemetry`) scrapes the serving apps and ships their metrics;
- drift (:mod:`aiedge.agent.drift`) sends the apps' drift scores to the hub every minute;
- with ``--capture-to``, captured requests go to the core's bucket (:mod:`aiedge.agent.capture`).

:func:`run_agent` returns when ``stop`` is set, after stopping every model server. It never
exits the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

import httpx

from aiedge.agent.answers import SiteView, answer_request
from aiedge.agent.backoff import Backoff, jittered
from aiedge.agent.bundle import IMPORTED, local_source, read_imported
from aiedge.agent.cache import ImageCache, UnpackPolicy
from aiedge.agent.capture import CaptureUploader
from aiedge.agent.drift import DriftReporter
from aiedge.agent.enrolment import site_credential
from aiedge.agent.errors import AgentError, Stalled, Waiting
from aiedge.agent.facts import RuntimeDevices, probe_runtimes, site_facts
from aiedge.agent.hub_client import HubClient, hub_http_client
from aiedge.agent.link import LinkMeter, MeteredTransport
from aiedge.agent.logbook import LogBook
from aiedge.agent.progress import format_bytes
from aiedge.agent.prune import DiskLimits, Kept
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.registries import RegistryPool
from aiedge.agent.reporting import StatusCadence
from aiedge.agent.runtime import Runtime
from aiedge.agent.secrets import SiteIdentity, load_identity
from aiedge.agent.settings import AgentSettings
from aiedge.agent.signatures import SignatureGate, read_keys
from aiedge.agent.state import load_state, save_state
from aiedge.agent.status import build_report
from aiedge.agent.tasks import run_until
from aiedge.agent.telemetry import Target, Telemetry
from aiedge.contracts import TAKEN_AT_ONCE, DesiredState, LinkBudget
from aiedge.oci.bandwidth import TokenBucket, format_rate
from aiedge.runtimes.process import ProcessRuntime

log = logging.getLogger(__name__)


class Agent:
    def __init__(
        self,
        settings: AgentSettings,
        hub: HubClient,
        http: httpx.AsyncClient,
        registries: RegistryPool,
        runtime: Runtime | None = None,
        credential: str | None = None,
        signatures: SignatureGate | None = None,
        identity: SiteIdentity | None = None,
        logbook: LogBook | None = None,
        link: LinkMeter | None = None,
        limiter: TokenBucket | None = None,
    ) -> None:
        self.settings = settings
        self.link = link or LinkMeter(None, settings.link_budget)
        self.limiter = limiter
        self.identity = identity
        self.signatures = signatures
        self.credential = credential
        self.hub = hub
        self.http = http
        self.runtime: Runtime
        self.cache: ImageCache
        if settings.runtime == "podman" and runtime is None:
            from aiedge.agent.podman import podman_runtime

            # podman unpacks the layers itself: its cache stages image layouts, not folders
            self.runtime, self.cache = podman_runtime(settings, registries)
        else:
            self.runtime = runtime or ProcessRuntime(settings.serve_command, settings.logs_dir)
            policy = UnpackPolicy(
                max_expansion=settings.unpack_max_expansion,
                max_entries=settings.unpack_max_entries,
                disk_reserve=settings.disk_reserve,
            )
            disk = DiskLimits(cache_max=settings.cache_max, min_free=settings.min_free)
            self.cache = ImageCache(
                settings.blobs_dir,
                settings.apps_dir,
                registries,
                policy=policy,
                disk=disk,
                kept=self._kept,
                platform=settings.image_platform,
            )
        self.hub_error: str | None = None
        self._latest: DesiredState | None = None
        self._wake = asyncio.Event()
        self._reconciler: Reconciler | None = None
        self._devices: RuntimeDevices | None = None  # None until the runtimes have answered
        self._cadence = StatusCadence(settings.status_refresh)
        self.logbook = logbook or LogBook()
        self._import_seen: int | None = None  # mtime of the imported bundle last looked at
        self._import_error: str | None = None

    async def run(self, stop: asyncio.Event) -> None:
        state = await asyncio.to_thread(load_state, self.settings.state_file)
        self._import_seen = await asyncio.to_thread(_applied_import, self.settings)
        self._latest = state.desired
        if state.desired is not None:
            log.info(
                "serving saved state %s (%d apps) while the hub is asked",
                state.desired.revision,
                len(state.desired.apps),
            )
        self._reconciler = Reconciler(
            self.settings,
            self.cache,
            self.runtime,
            self.http,
            state,
            partial(save_state, self.settings.state_file),
            signatures=self.signatures,
            identity=self.identity,
            link=self.link,
        )
        telemetry = Telemetry(
            self.settings, self._scrape_targets, self.http, self.credential, self.hub, self.link
        )
        drift = DriftReporter(
            self.settings.site,
            self._scrape_targets,
            self.http,
            self.hub,
            self.settings.drift_report_interval,
        )
        capture = (
            CaptureUploader(
                self.settings.site,
                self.settings.capture_dir,
                self.settings.capture_to,
                self.settings.capture_endpoint,
                self.settings.capture_interval,
                self.limiter,
                self._capturing,
                self.link,
            )
            if self.settings.capture_to
            else None
        )
        try:
            await run_until(
                stop,
                {
                    "poll": self._poll(),
                    "reconcile": self._reconcile_loop(),
                    "heartbeat": self._heartbeat(),
                    "requests": self._answer_requests(),
                    "telemetry": telemetry.run(stop),
                    "drift": drift.run(stop),
                    **({"capture": capture.run(stop)} if capture is not None else {}),
                    "facts": self._probe(),  # once, then done (a task that returns is not a failure)
                },
            )
        finally:
            log.info("stopping model servers")
            await self._reconciler.shutdown()

    async def _poll(self) -> None:
        backoff = Backoff(self.settings.backoff_min, self.settings.backoff_max)
        loop = asyncio.get_running_loop()
        while True:
            after = self._latest.digest if self._latest else None
            started = loop.time()
            try:
                new = await self.hub.fetch_desired(after, self.settings.long_poll_wait)
            except AgentError as e:
                self._hub_trouble(e)
                if isinstance(e, Stalled):
                    delay = self.settings.backoff_max
                elif isinstance(e, Waiting):
                    delay = jittered(self.settings.poll_interval)
                else:
                    delay = backoff.next_delay()
                await asyncio.sleep(delay)
                continue
            if self.hub_error is not None:
                log.info("hub %s reachable again", self.settings.hub)
                self.hub_error = None
                self._cadence.forget()  # it may have restarted, or lost the last report
            backoff.reset()
            if new is not None and (self._latest is None or new.digest != self._latest.digest):
                log.info("desired state %s (%s)", new.revision, new.digest[:19])
                self._latest = new
                self._wake.set()
            elif loop.time() - started < 1.0:
                # the hub did not hold the poll: don't hammer it
                await asyncio.sleep(jittered(self.settings.poll_interval))

    def _capturing(self) -> set[tuple[str, str]]:
        """(app, digest hex) of every version running now: its capture folder is in use."""
        if self._reconciler is None:
            return set()
        return {
            (inst.app.name, inst.app.digest.removeprefix("sha256:"))
            for slot in self._reconciler.slots.values()
            for inst in (slot.active, slot.previous)
            if inst is not None
        }

    def _kept(self) -> Kept:
        """What pruning leaves: the reconciler's, and the desired state not yet applied (from
        the hub or an imported bundle, whose blobs may already be in the cache)."""
        kept = self._reconciler.kept() if self._reconciler is not None else Kept()
        for app in self._latest.apps if self._latest is not None else []:
            kept.add(app.name, app.digest)
        return kept

    def _scrape_targets(self) -> list[Target]:
        """The apps serving now, each reached through its site port."""
        if self._reconciler is None or self._reconciler.state.desired is None:
            return []
        targets = []
        for app in self._reconciler.state.desired.apps:
            slot = self._reconciler.slots.get(app.name)
            serving = slot.serving() if slot is not None else None
            if slot is None or serving is None or slot.http is None:
                continue
            host = "127.0.0.1" if slot.http.host in ("0.0.0.0", "::", "") else slot.http.host
            url = f"http://{host}:{slot.http.port}/metrics"
            targets.append(Target(app.name, serving.app.model, serving.app.digest, url))
        return targets

    def _hub_trouble(self, e: AgentError) -> None:
        message = f"{e.reason}: {e}"
        if message != self.hub_error:
            log.warning("%s (still serving what runs; retrying)", message)
        self.hub_error = message

    async def _check_import(self) -> None:
        """A bundle imported since the last look (``aiedge agent import``) becomes the desired
        state, hub or no hub; the hub's, when it is reached and differs, wins again."""
        try:
            found = await asyncio.to_thread(read_imported, self.settings)
        except AgentError as e:
            if str(e) != self._import_error:
                log.warning("imported bundle not applied: %s", e)
            self._import_error = str(e)
            return
        self._import_error = None
        if found is None or found[1] == self._import_seen:
            return
        state, self._import_seen = found
        if self._latest is None or state.digest != self._latest.digest:
            log.info(
                "imported bundle: desired state %s (%s, %d apps)",
                state.revision,
                state.digest[:19],
                len(state.apps),
            )
            self._latest = state

    async def _reconcile_loop(self) -> None:
        assert self._reconciler is not None
        while True:
            self._wake.clear()
            await self._check_import()
            desired = self._latest
            if desired is not None:
                self._budget(desired.link)
                try:
                    for error in await self._reconciler.reconcile(desired):
                        log.warning("%s", error)
                    await self.cache.prune()
                except (AgentError, OSError) as e:
                    log.error("reconcile of %s failed: %s", desired.revision, e)
                finally:
                    await self._report()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), jittered(self.settings.poll_interval))

    async def _answer_requests(self) -> None:
        """Operators' requests (logs, diagnose) over the agent's own connection, each answered at
        once, bounded and redacted. A hub whose polls say when requests wait
        (:attr:`HubClient.tells_requests`) is asked when told, and every ``requests_wait``
        seconds in case a word was lost: the agent holds one poll, not two. An older hub's long
        poll for requests, which it wakes when one is queued, is held instead."""
        assert self._reconciler is not None
        backoff = Backoff(self.settings.backoff_min, self.settings.backoff_max)
        hub, longest = self.hub, self.settings.requests_wait
        wait = 0.0  # the first look is at once: requests queued while the site was away
        while True:
            if wait:
                if hub.tells_requests is None:  # not known before the first state comes
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hub.known.wait(), longest)
                if hub.tells_requests:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(hub.requests_waiting.wait(), longest)
                    wait = 0.0
            hub.requests_waiting.clear()
            try:
                found = await hub.fetch_requests(wait)
            except AgentError as e:
                # a hub without this route (older) answers 404: ask again rarely
                await asyncio.sleep(
                    self.settings.backoff_max if isinstance(e, Waiting) else backoff.next_delay()
                )
                wait = 0.0
                continue
            wait = 0.0 if len(found) >= TAKEN_AT_ONCE else longest  # more may wait
            backoff.reset()
            for request in found:
                view = SiteView(
                    self.settings, self._reconciler, self.cache, self.logbook, self.hub_error, self.credential
                )
                answer = await answer_request(request, view)
                try:
                    await self.hub.post_answer(request.id, answer)
                except AgentError as e:
                    log.warning("answer to request %d not sent: %s", request.id, e)
                else:
                    log.info(
                        "answered request %d (%s%s)",
                        request.id,
                        request.kind,
                        f" {request.app}" if request.app else "",
                    )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(jittered(self.settings.poll_interval))
            await self._report()

    def _budget(self, link: LinkBudget | None) -> None:
        if link != self.link.site_link:
            self.link.site_link = link
            budget = self.link.budget
            log.info(
                "link budget: %s",
                f"{format_bytes(budget)} a day{'' if self.link.metered else ' (counted only)'}"
                if budget
                else "none",
            )

    async def _probe(self) -> None:
        """Ask the runtimes once for their devices; then report the site's facts at once."""
        self._devices = await probe_runtimes()
        facts = await asyncio.to_thread(site_facts, self.settings.data, self._devices)
        log.info(
            "site facts: %s, %d CPUs, %s memory, accelerators: %s",
            f"{facts.os}/{facts.arch}",
            facts.cpus,
            format_bytes(facts.memory_bytes),
            ", ".join(facts.accelerators) or "none",
        )
        await self._report()

    async def _report(self) -> None:
        assert self._reconciler is not None
        facts = None
        if self._devices is not None:
            facts = await asyncio.to_thread(site_facts, self.settings.data, self._devices)
        report = await build_report(
            self._reconciler, self.settings.site, self.http, self.hub_error, self.link.usage(), facts=facts
        )
        await asyncio.to_thread(self.link.save)
        if not self._cadence.due(report, every_time=self.hub.heartbeat is None):
            return
        try:
            await self.hub.post_status(report)
        except AgentError as e:
            self._cadence.forget()
            log.debug("status report not sent: %s", e)
        else:
            self._cadence.sent(report)


def _applied_import(settings: AgentSettings) -> int | None:
    """The imported bundle's mtime when the saved state is newer (it was applied, or the hub's
    state replaced it since): not applied again at start."""
    try:
        stamp = (settings.import_dir / IMPORTED).stat().st_mtime_ns
        saved = settings.state_file.stat().st_mtime_ns
    except OSError:
        return None
    return stamp if saved > stamp else None


async def run_agent(settings: AgentSettings, stop: asyncio.Event) -> None:
    """Run the agent until ``stop`` is set; the HTTP clients live exactly as long as this call."""
    logbook = LogBook()  # the agent's recent lines, for `aiedge logs SITE` through the hub
    logging.getLogger().addHandler(logbook)
    try:
        await _run_agent(settings, stop, logbook)
    finally:
        logging.getLogger().removeHandler(logbook)


async def _run_agent(settings: AgentSettings, stop: asyncio.Event, logbook: LogBook) -> None:
    keys = await asyncio.to_thread(read_keys, settings.verify_keys)  # a bad key fails now, not later
    identity = await asyncio.to_thread(load_identity, settings.age_identity_file)
    log.info("site %s: age recipient for its secrets: %s", settings.site, identity.recipient)
    # one bucket for the whole process: the limit is the site's link, not one blob's
    limiter = TokenBucket(settings.max_bandwidth) if settings.max_bandwidth else None
    meter = await asyncio.to_thread(LinkMeter, settings.data / "link-usage.json", settings.link_budget)
    async with (
        hub_http_client(settings.ca, meter) as hub_http,
        httpx.AsyncClient(trust_env=False) as local_http,
        RegistryPool(
            insecure=True if settings.insecure_registry else None,
            limiter=limiter,
            mirrors=settings.mirrors,
            wrap=lambda inner: MeteredTransport(inner, meter, lambda _: "downloads"),
        ) as registries,
    ):
        credential = await site_credential(
            hub_http,
            settings.hub,
            settings.site,
            settings.token,
            settings.credential_file,
            stop,
            age_recipient=identity.recipient,
            hub_key_file=settings.learned_hub_key_file,
        )
        if stop.is_set():
            return
        hub = HubClient(hub_http, settings.hub, settings.site, credential)
        gate = SignatureGate(registries, keys, local=local_source(settings)) if keys else None
        if limiter is not None:
            log.info("downloads limited to %s", format_rate(limiter.rate))
        if gate is not None:
            log.info("images must be signed by %s", ", ".join(name for name, _ in keys))
        await Agent(
            settings,
            hub,
            local_http,
            registries,
            credential=credential,
            signatures=gate,
            identity=identity,
            logbook=logbook,
            link=meter,
            limiter=limiter,
        ).run(stop)
