"""Running the hub process: open the store, load the first revision, serve the API with uvicorn
and poll the repo until SIGTERM/SIGINT. Every background loop runs in one task group with the
server: when the server stops, the group cancels them and waits for each."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import resource
import signal
import socket
import sys
from collections.abc import Callable, Generator
from pathlib import Path

import uvicorn

from aiedge.hub.api import Services, build_app
from aiedge.hub.api.limits import http_protocol
from aiedge.hub.clock import Clock, system_clock
from aiedge.hub.errors import HubConfigError
from aiedge.hub.fleet import Fleet
from aiedge.hub.notify import Listener
from aiedge.hub.observability import Observability
from aiedge.hub.removals import Guard
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store, check_url, open_engine
from aiedge.hub.webhooks import read_secret

log = logging.getLogger("aiedge.hub")
# The hub's heavy work runs on threads (publishing a commit, writing reports, the alert pass over
# every site), and a thread holding the GIL keeps the event loop waiting for up to a switch
# interval each time it wants it back: 5 ms by default, so a request answered in 2 ms of loop work
# took hundreds while such a thread ran. A shorter interval lets the loop in more often.
SWITCH_INTERVAL_S = 0.001


class _Server(uvicorn.Server):
    """uvicorn's server, minus its signal handling: it re-raises SIGTERM after shutting down,
    so the process would die of the signal; :func:`serve` handles the signals itself and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class _Stopped(Exception):
    """The server has stopped: ends the task group (and so every background loop)."""


def check_settings(settings: HubSettings) -> None:
    """Refuse, in one line each, what the hub cannot start with; nothing has started yet."""
    if settings.gitops is None:
        raise HubConfigError("no GitOps repo: pass --gitops DIR (a Git repo or a folder of YAML)")
    if not settings.gitops.exists():
        raise HubConfigError(f"--gitops {settings.gitops}: no such repo or folder")
    check_url(settings.db_url())
    for f in (settings.tls_cert, settings.tls_key):
        if f is not None and not f.is_file():
            raise HubConfigError(f"{f}: no such file")
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise HubConfigError("--tls-cert and --tls-key go together")
    if settings.webhook_secret_file is not None:
        read_secret(settings.webhook_secret_file)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts, so a port in use is one clear
    line instead of a traceback after the repo was read."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        why = (
            "is in use by another process"
            if e.errno == errno.EADDRINUSE
            else f"cannot be bound: {e.strerror}"
        )
        raise HubConfigError(f"--host {host} --port {port}: {host}:{port} {why}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run(settings: HubSettings) -> None:
    """Run the hub in this process until a stop signal, on uvloop where it is installed (it is
    with uvicorn[standard], except on Windows): the stock event loop runs its selector, callbacks
    and transports as Python code under the GIL (the transports alone were 15% of the loop
    thread's samples at 10,000 sites)."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(serve(settings))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it wherever it builds
        return None
    return uvloop.new_event_loop


def raise_open_files_limit(wanted: int) -> None:
    """Raise this process's soft limit of open files to its hard limit, as Go programs and nginx
    do. Shells and systemd start a service with a soft limit of 1,024
    and a hard one of 500,000 or more, and every held long poll is an open socket: kept at 1,024,
    a hub stops accepting connections at about a thousand sites. Logs what it did, and warns
    when even the hard limit is below ``wanted`` (the connections the hub accepts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # the kernel caps a soft limit at fs.nr_open
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as e:
            log.warning("open files: could not raise the soft limit %d to %d: %s", soft, target, e)
        else:
            log.info("open files: soft limit raised from %d to %d", soft, target)
            soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning(
            "open files: this process may open %d files, fewer than the %d connections the hub "
            "accepts (AIEDGE_HUB_MAX_CONNECTIONS, about two per site): raise the hard limit "
            "(ulimit -Hn; LimitNOFILE= under systemd)",
            soft,
            wanted,
        )


async def serve(settings: HubSettings, clock: Clock = system_clock) -> None:
    """Run until a stop signal (SIGTERM or SIGINT)."""
    check_settings(settings)
    raise_open_files_limit(settings.max_connections)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    sock = listen(settings.host, settings.port)
    try:
        settings.data.mkdir(parents=True, exist_ok=True)
        store = Store(await asyncio.to_thread(open_engine, settings.db_url()))
        try:
            await _run(settings, clock, store, sock)
        finally:
            store.close()
    finally:
        sock.close()
    log.info("hub stopped")


async def _run(settings: HubSettings, clock: Clock, store: Store, sock: socket.socket) -> None:
    assert settings.gitops is not None  # check_settings said so
    guard = Guard(settings.removal_guard_sites, settings.removal_guard_share)
    fleet = Fleet(settings.gitops, clock, store, guard, settings.wake_rate)
    await fleet.refresh()
    await fleet.sync()  # another hub may have published already
    if settings.insecure_no_auth:
        log.warning("--insecure-no-auth: sites are served without credentials")
    observability = Observability(settings, fleet, store, clock)
    app = build_app(Services(settings, fleet, store, observability, clock))
    # A fleet of thousands keeps ~10^6 long-lived objects (connections, held long polls, parsed
    # reports); a full pass of the cyclic collector over them stalls every request for 0.5-1 s.
    # Requests leave no cyclic garbage (no exception per long poll, statements built once), so:
    # what exists now is frozen out of all passes, young generations stay small and fast, and a
    # full pass comes after 1,000 middle ones instead of 10 (hub_scale: p99 1.6 s -> 63 ms).
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 1000)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        lifespan="off",
        access_log=False,
        timeout_graceful_shutdown=2,
        http=http_protocol(settings),
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout,
        # agents on metered links pay for every header of every answer: no Server or Date on them
        server_header=False,
        date_header=False,
        log_config=None,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
    )
    server = _Server(config)
    scheme = "https" if settings.tls_cert else "http"

    async def announce() -> None:
        while not server.started:  # noqa: ASYNC110 - uvicorn only exposes a flag
            await asyncio.sleep(0.05)
        log.info("hub ready at %s://%s:%d", scheme, settings.host, settings.port)

    async def serve_then_stop() -> None:
        await server.serve(sockets=[sock])
        raise _Stopped

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop, server, fleet, sig)
    try:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(serve_then_stop())
            tg.create_task(fleet.run(settings.poll_interval, settings.rollout_interval))
            tg.create_task(announce())
            tg.create_task(observability.run())
            if store.postgres:
                tg.create_task(Listener(settings.db_url(), fleet.want_sync).run())
    except* _Stopped:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def _stop(server: uvicorn.Server, fleet: Fleet, sig: signal.Signals) -> None:
    log.info("%s: stopping", sig.name)
    fleet.close()  # held long polls answer 503 + Retry-After now, so uvicorn has none to wait for
    if server.should_exit:
        server.force_exit = True
    server.should_exit = True
