"""Running the hub process: open the store, load the first revision, serve the API with uvicorn
and poll the repo until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Generator

import uvicorn

from aiedge.hub.api import build_app
from aiedge.hub.clock import Clock, system_clock
from aiedge.hub.fleet import Fleet
from aiedge.hub.observability import Observability
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store, open_engine

log = logging.getLogger("aiedge.hub")


class _Server(uvicorn.Server):
    """uvicorn's server, minus its signal handling: it re-raises SIGTERM after shutting down,
    so the process would die of the signal; :func:`serve` handles the signals itself and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(settings: HubSettings, clock: Clock = system_clock) -> None:
    """Run until a stop signal; uvicorn handles SIGTERM and SIGINT."""
    settings.data.mkdir(parents=True, exist_ok=True)
    engine = await asyncio.to_thread(open_engine, settings.db_url())
    store = Store(engine)
    fleet = Fleet(settings.gitops, clock)
    await fleet.refresh()
    if settings.insecure_no_auth:
        log.warning("--insecure-no-auth: sites are served without credentials")
    app = build_app(settings, fleet, store, clock)
    observability = await asyncio.to_thread(Observability, settings, fleet, store, engine, clock)
    observability.mount(app)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        timeout_keep_alive=75,
        log_config=None,
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, server, sig)

    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
            await asyncio.sleep(0.05)
        log.info("hub ready at http://%s:%d", settings.host, settings.port)

    tasks = [
        asyncio.create_task(fleet.run(settings.poll_interval)),
        asyncio.create_task(announce()),
        asyncio.create_task(observability.run()),
    ]
    try:
        await server.serve()
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        engine.dispose()
    log.info("hub stopped")


def _stop(server: uvicorn.Server, sig: signal.Signals) -> None:
    log.info("%s: stopping", sig.name)
    if server.should_exit:
        server.force_exit = True
    server.should_exit = True
