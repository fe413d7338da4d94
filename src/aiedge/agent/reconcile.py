"""Bringing the site to a desired state, app by app, in ordered steps: check the signature (with
``--verify-key``), fetch + verify + stage (:class:`~aiedge.agent.cache.ImageCache`), start, wait
ready, smoke-test, switch, record.

Before anything serves, its unpacked files are checked against the digests kept at unpack time
(:class:`~aiedge.agent.cache.ImageCache`), on a deploy and on every restart.

A new version starts beside the old one on private ports; only when it is ready and has passed
its smoke test does the site port switch to it, and the old one is kept warm for rollback. Any
failure stops the new server and leaves the old one serving. A server that dies is restarted
with backoff, meanwhile traffic goes to the warm previous version when there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import httpx

from aiedge.agent.backoff import Backoff
from aiedge.agent.cache import ImageCache
from aiedge.agent.errors import (
    AgentError,
    LinkDeferred,
    SecretDecryptFailed,
    SignatureInvalid,
    SmokeTestFailed,
    Stalled,
    StartFailed,
    Waiting,
)
from aiedge.agent.holds import read_hold
from aiedge.agent.link import LinkMeter
from aiedge.agent.modelhealth import serve_env
from aiedge.agent.ports import site_ports
from aiedge.agent.progress import DownloadProgress, format_bytes, logging_progress
from aiedge.agent.proxy import SiteProxy
from aiedge.agent.prune import Kept
from aiedge.agent.runtime import Instance, Runtime
from aiedge.agent.secrets import SiteIdentity
from aiedge.agent.serving import served_device
from aiedge.agent.settings import AgentSettings
from aiedge.agent.shadow import ShadowGate, control_token
from aiedge.agent.signatures import SignatureGate
from aiedge.agent.slot import AppSlot
from aiedge.agent.state import AgentState, Applied
from aiedge.agent.windows import deferral
from aiedge.contracts import AppReason, DesiredApp, DesiredState
from aiedge.contracts.serving import serving_env
from aiedge.processes import free_port
from aiedge.runtimes.errors import StartError
from aiedge.runtimes.launch import Launch
from aiedge.smoke.errors import NotReady
from aiedge.smoke.runner import bring_up

log = logging.getLogger(__name__)


class Reconciler:
    """Owns the running apps; :meth:`reconcile` is idempotent and safe to call every interval."""

    def __init__(
        self,
        settings: AgentSettings,
        cache: ImageCache,
        runtime: Runtime,
        http: httpx.AsyncClient,
        state: AgentState,
        save: Callable[[AgentState], None],
        *,
        signatures: SignatureGate | None = None,
        identity: SiteIdentity | None = None,
        link: LinkMeter | None = None,
    ) -> None:
        self.settings = settings
        self.link = link  # downloads of new versions wait while they do not fit in its budget
        self.cache = cache
        self.runtime = runtime
        self.http = http
        self.state = state
        self._save = save
        self.signatures = signatures
        self.identity = identity
        self.slots: dict[str, AppSlot] = {}
        self.working: DesiredState | None = None  # the desired state a pass works towards now
        self._prefetched: dict[str, str] = {}  # app -> digest downloaded while its switch waits
        self._control_token: str | None = None  # of the servers' control endpoint (shadow phases)

    @property
    def apps(self) -> list[DesiredApp]:
        """The apps to report on: those of the pass under way (a first download included),
        else of the last desired state applied."""
        desired = self.working or self.state.desired
        return list(desired.apps) if desired else []

    async def reconcile(self, desired: DesiredState) -> list[str]:
        """One pass toward ``desired``; returns the errors (``app: Reason: message``)."""
        self.working = desired
        wanted = {a.name: a for a in desired.apps}
        for name in [n for n in self.slots if n not in wanted]:
            await self._remove(name)
        results = await asyncio.gather(
            *(self._reconcile_app(a) for a in desired.apps), return_exceptions=True
        )
        errors: list[str] = []
        for app, result in zip(desired.apps, results, strict=True):
            if isinstance(result, AgentError):
                errors.append(f"{app.name}: {result.reason}: {result}")
            elif isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                log.error("app %s: unexpected error", app.name, exc_info=result)
                self._slot(app.name).set(AppReason.UNKNOWN, f"internal error: {result!r}")
                errors.append(f"{app.name}: InternalError: {result!r}")
        self.state.desired = desired
        await asyncio.to_thread(self._save, self.state)
        return errors

    def kept(self) -> Kept:
        """What the cache may not prune: per app the version serving and the previous one
        (running, or on record), and what the pass under way works towards."""
        kept = Kept()
        for app in self.apps:
            kept.add(app.name, app.digest)
        for applied in (*self.state.inventory.values(), *self.state.previous.values()):
            kept.add(applied.app.name, applied.app.digest)
        for slot in self.slots.values():
            for inst in (slot.active, slot.previous):
                if inst is not None:
                    kept.add(inst.app.name, inst.app.digest)
        return kept

    async def shutdown(self) -> None:
        for name in list(self.slots):
            await self._close_slot(self.slots.pop(name))

    def _slot(self, name: str) -> AppSlot:
        if name not in self.slots:
            s = self.settings
            self.slots[name] = AppSlot(name, Backoff(s.backoff_min, s.backoff_max))
        return self.slots[name]

    async def _reconcile_app(self, app: DesiredApp) -> None:
        slot = self._slot(app.name)
        applied = self.state.inventory.get(app.name)
        serving = slot.serving()
        if applied is not None and applied.app == app:
            if serving is not None and serving.app == app:
                slot.target = None
                slot.set(AppReason.READY, f"serving {app.digest}")
                return
            await self._repair(slot, applied)
            return
        if self.state.failed.get(app.name) == _attempt(app):
            # stalled: the same digest would fail the same way; wait for a new one
            if applied is not None and (serving is None or serving.app != applied.app):
                await self._repair(slot, applied)
            return
        if (left := slot.waiting(_attempt(app))) > 0:
            raise _still_waiting(slot, left)
        try:
            # a first install goes at once: a window or a hold protects what serves, and nothing does
            if applied is not None:
                why = deferral(app, await asyncio.to_thread(read_hold, self.settings.data))
                if why is not None:
                    await self._defer(slot, app, applied, why)
                    return
            await self._deploy(slot, app)
        except LinkDeferred as e:
            # no failure and no backoff: the next pass asks the budget again
            serving = slot.serving()
            if applied is not None and (serving is None or serving.app != applied.app):
                await self._repair(slot, applied)
            slot.target = app.digest
            slot.set(AppReason.DEFERRED, f"{app.digest}: {e}; {_keeps(slot)}")
        except SmokeTestFailed as e:
            self.state.failed[app.name] = _attempt(app)
            slot.set(e.app_reason, f"{app.digest} failed its smoke test: {e}; {_keeps(slot)}")
            raise
        except SignatureInvalid as e:
            # stalled, but checked again: the fix (a signature pushed) leaves the desired state as is
            delay = slot.failed_attempt()
            if applied is not None and slot.serving() is None:
                # just restarted: serve what was applied while the new digest is refused
                with contextlib.suppress(AgentError):
                    model_dir = await self._fetch(slot, applied.app)
                    await self._switch(slot, await self._bring_up(slot, applied.app, model_dir))
            slot.set(e.app_reason, f"{app.digest}: {e}; checked again in {delay:.0f}s; {_keeps(slot)}")
            raise
        except Stalled as e:
            self.state.failed[app.name] = _attempt(app)
            slot.set(e.app_reason, f"{app.digest}: {e}; {_keeps(slot)}")
            raise
        except AgentError as e:
            delay = slot.failed_attempt()
            slot.set(e.app_reason, f"{app.digest}: {e}; retry in {delay:.0f}s; {_keeps(slot)}")
            raise

    async def _deploy(self, slot: AppSlot, app: DesiredApp) -> None:
        log.info("app %s: deploying %s", app.name, app.digest)
        slot.target = app.digest
        if self.signatures is not None:
            slot.set(AppReason.PROGRESSING, f"verifying the signature of {app.digest}")
            await self.signatures.check(app)
        self._secret_env(app)  # an undecryptable secret stops here, before any download
        model_dir = await self._fetch(slot, app, metered=True)
        slot.set(AppReason.PROGRESSING, f"starting {app.digest}")
        instance = await self._bring_up(slot, app, model_dir)
        await self._shadow_or_stop(slot, app, instance)
        await self._switch_or_stop(slot, instance)
        if (before := self.state.inventory.get(app.name)) is not None and before.app.digest != app.digest:
            self.state.previous[app.name] = before
        self.state.inventory[app.name] = Applied(app=app, model_dir=model_dir)
        self.state.failed.pop(app.name, None)
        await asyncio.to_thread(self._save, self.state)
        slot.succeeded()
        slot.target = None
        slot.set(AppReason.READY, f"serving {app.digest}")
        log.info("app %s: serving %s on port %s", app.name, app.digest, slot.http.port if slot.http else "?")

    async def _defer(self, slot: AppSlot, app: DesiredApp, applied: Applied, why: str) -> None:
        """Keep serving the applied version while ``app`` waits (a hold, outside its windows);
        with ``prefetch`` the new version is verified, downloaded and unpacked meanwhile, once."""
        serving = slot.serving()
        if serving is None or serving.app != applied.app:
            await self._repair(slot, applied)
        slot.target = app.digest
        if app.prefetch:
            if self._prefetched.get(app.name) != app.digest:
                if self.signatures is not None:
                    slot.set(AppReason.PROGRESSING, f"verifying the signature of {app.digest}")
                    await self.signatures.check(app)
                await self._fetch(slot, app, metered=True)
                self._prefetched[app.name] = app.digest
                log.info("app %s: prefetched %s; it switches when allowed", app.name, app.digest[:19])
            why += "; downloaded, it switches then"
        if slot.reason is not AppReason.DEFERRED:
            log.info("app %s: %s deferred: %s", app.name, app.digest[:19], why)
        slot.set(AppReason.DEFERRED, f"{app.digest}: {why}; {_keeps(slot)}")

    async def _fetch(self, slot: AppSlot, app: DesiredApp, *, metered: bool = False) -> Path:
        """The app's model folder from the cache (verified; fetched and unpacked again where
        missing or changed), with the slot saying Downloading and a log line every interval
        while bytes are missing. ``metered``: a new version, whose download waits
        (:class:`LinkDeferred`) while it does not fit in the link budget; a repair never waits."""

        def begun(p: DownloadProgress) -> None:
            if p.total is not None and p.total > p.cached:
                need = p.total - p.cached
                if metered and self.link is not None:
                    why = self.link.download_deferral(f"app {app.name}", need, app.urgent)
                    if why is not None:
                        raise LinkDeferred(why)
                slot.progress = p
                slot.set(AppReason.DOWNLOADING, f"downloading {app.digest}")
                log.info(
                    "app %s: downloading %s: %s to fetch (%s cached)",
                    app.name,
                    app.digest[:19],
                    format_bytes(p.total - p.cached),
                    format_bytes(p.cached),
                )

        def finished() -> None:
            slot.progress = None
            slot.set(AppReason.PROGRESSING, f"unpacking {app.digest}")

        progress = DownloadProgress(on_begin=begun, on_finish=finished)
        what = f"app {app.name}: {app.digest[:19]}"
        try:
            model_dir = await logging_progress(
                self.cache.ensure(app, progress), progress, log, what, self.settings.progress_log_interval
            )
        finally:
            slot.progress = None
        if progress.total is not None and progress.done > progress.cached:
            log.info("app %s: downloaded %s: %s", app.name, app.digest[:19], progress.summary())
        return model_dir

    async def _repair(self, slot: AppSlot, applied: Applied) -> None:
        """The applied version is not serving (died, or the agent just started): bring it back."""
        app = applied.app
        dead = slot.active
        if dead is not None and not dead.alive():
            log.warning("app %s: model server %s", app.name, dead.exit_description())
            slot.active = None
            if slot.previous is not None and slot.previous.alive():
                # instant rollback while the applied version restarts
                await self._route(slot, slot.previous)
                slot.active, slot.previous = slot.previous, None
        if (left := slot.waiting(_attempt(app))) > 0:
            raise _still_waiting(slot, left)
        slot.set(AppReason.PROGRESSING, f"restarting {app.digest}")
        try:
            # the unpacked files are checked first: a changed one is unpacked again from
            # verified blobs (or fetched again), never served
            model_dir = await self._fetch(slot, app)
            slot.set(AppReason.PROGRESSING, f"restarting {app.digest}")
            instance = await self._bring_up(slot, app, model_dir)
            await self._switch_or_stop(slot, instance)
        except AgentError as e:
            delay = slot.failed_attempt()
            slot.set(e.app_reason, f"{app.digest}: {e}; retry in {delay:.0f}s; {_keeps(slot)}")
            raise
        if model_dir != applied.model_dir:
            self.state.inventory[app.name] = Applied(app=app, model_dir=model_dir)
            await asyncio.to_thread(self._save, self.state)
        slot.succeeded()
        slot.set(AppReason.READY, f"serving {app.digest}")

    async def _shadow_or_stop(self, slot: AppSlot, app: DesiredApp, instance: Instance) -> None:
        """With ``spec.rollout.shadow`` and a version serving: the shadow phase (stops
        ``instance`` and raises unless it passes). A first install has nothing to compare with."""
        serving = slot.active
        if app.shadow is None or serving is None or not serving.alive() or self.settings.runtime != "process":
            if app.shadow is not None and self.settings.runtime != "process":
                log.warning("app %s: shadow phases need --runtime process; switching without one", app.name)
            return
        gate = ShadowGate(self.http, self._token(), self.settings.shadow_timeout)
        slot.set(AppReason.PROGRESSING, f"shadow phase of {app.digest} beside {serving.app.digest}")
        try:
            verdict = await gate.run(
                app.shadow,
                serving,
                instance,
                lambda text: slot.set(AppReason.PROGRESSING, f"{app.digest}: {text}"),
            )
        except BaseException:
            await instance.stop()
            raise
        log.info("app %s: %s passed its shadow phase: %s", app.name, app.digest, verdict.summary(app.shadow))

    def _token(self) -> str:
        if self._control_token is None:
            self._control_token = control_token(self.settings.data)
        return self._control_token

    async def _bring_up(self, slot: AppSlot, app: DesiredApp, model_dir: Path) -> Instance:
        """Start on private ports, wait until ready, pass the smoke test; else stop it and raise."""
        process = self.settings.runtime == "process"
        capture = self.settings.capture_dir if process else None
        env = {**serving_env(app), **serve_env(app, capture), **self._secret_env(app)}
        if process:  # the shadow mirror's control endpoint (a later version's shadow phase)
            env["AIEDGE_SERVE_CONTROL_TOKEN"] = self._token()

        async def start() -> Instance:
            return await self.runtime.start(Launch(app, model_dir, free_port(), free_port(), env))

        try:
            trial = await bring_up(
                start,
                self.http,
                app.smoke_test,
                ready_path=f"/v2/models/{app.model}/ready",
                ready_timeout=self.settings.ready_timeout,
            )
        except (StartError, NotReady) as e:
            raise StartFailed(str(e)) from e
        result = trial.result
        if result is not None and not result.ok:
            await trial.server.stop()
            why = result.error or "; ".join(result.diffs[:3]) or f"status {result.status_code}"
            raise SmokeTestFailed(why)
        # the smoke test ran on the device that serves: say which, and why not the one asked for
        device, fallback = await served_device(self.http, trial.server.base_url, app.model)
        if fallback:
            log.warning("app %s: %s", app.name, fallback)
        slot.served_on[id(trial.server)] = (device, fallback)
        return trial.server

    def _secret_env(self, app: DesiredApp) -> dict[str, str]:
        """The app's secrets, decrypted in memory with the site's identity, for its environment."""
        if not app.secrets:
            return {}
        if self.identity is None:
            raise SecretDecryptFailed(f"app {app.name} has secrets but this agent has no age identity")
        return self.identity.env_for(app)

    async def _switch_or_stop(self, slot: AppSlot, instance: Instance) -> None:
        """:meth:`_switch`, stopping ``instance`` when traffic cannot reach it (a site port taken):
        nothing else holds it, and a container would outlive the agent."""
        try:
            await self._switch(slot, instance)
        except BaseException:
            if slot.active is not instance:
                await instance.stop()
            raise

    async def _switch(self, slot: AppSlot, instance: Instance) -> None:
        await self._route(slot, instance)
        old, stale = slot.active, slot.previous
        slot.active = instance
        keep = old if self.settings.keep_previous and old is not None and old.alive() else None
        slot.previous = keep
        for inst in (old, stale):
            if inst is not None and inst is not keep and inst is not instance:
                await inst.stop()
        slot.forget_stopped()

    async def _route(self, slot: AppSlot, instance: Instance) -> None:
        """Point the site ports at ``instance``, opening (or moving) the listeners as needed."""
        http_port, grpc_port = site_ports(instance.app, self.settings.port_offset)
        if (
            slot.http is None
            or slot.grpc is None
            or (slot.http.port, slot.grpc.port) != (http_port, grpc_port)
        ):
            for proxy in (slot.http, slot.grpc):
                if proxy is not None:
                    await proxy.close()
            slot.http = SiteProxy(self.settings.host, http_port)
            slot.grpc = SiteProxy(self.settings.host, grpc_port)
            for proxy in (slot.http, slot.grpc):
                try:
                    await proxy.start()
                except OSError as e:
                    raise StartFailed(f"cannot listen on site port {proxy.port}: {e.strerror or e}") from e
        slot.http.target = instance.http_port
        slot.grpc.target = instance.grpc_port

    async def _remove(self, name: str) -> None:
        log.info("app %s: no longer desired, stopping it", name)
        await self._close_slot(self.slots.pop(name))
        self.state.inventory.pop(name, None)
        self.state.previous.pop(name, None)
        self.state.failed.pop(name, None)

    async def _close_slot(self, slot: AppSlot) -> None:
        for proxy in (slot.http, slot.grpc):
            if proxy is not None:
                await proxy.close()
        for inst in (slot.active, slot.previous):
            if inst is not None:
                await inst.stop()
        slot.active = slot.previous = None


def _attempt(app: DesiredApp) -> str:
    """What a failure is remembered by: everything the site was told to run for the app (image
    digest, smoke test, secrets' ciphertexts, ports), so that changing any of it, a corrected
    expected answer or a secret encrypted again, is a new attempt with the same image."""
    return f"{app.digest}+app:{hashlib.sha256(app.model_dump_json().encode()).hexdigest()[:16]}"


def _keeps(slot: AppSlot) -> str:
    serving = slot.serving()
    return f"still serving {serving.app.digest}" if serving else "nothing serving"


def _still_waiting(slot: AppSlot, left: float) -> AgentError:
    return Waiting(f"backing off, next try in {left:.0f}s ({slot.message})")
