"""Running ``aiedge serve``: build the registry, start HTTP at once (live), load models in the
background (ready when loaded), stop gracefully on SIGTERM/SIGINT (uvicorn finishes in-flight)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from aiedge.serve.app import create_app
from aiedge.serve.capture import CaptureWriter
from aiedge.serve.dataplane import DataPlane
from aiedge.serve.drift.monitor import DriftMonitor, read_profile
from aiedge.serve.errors import UnknownModelFormat
from aiedge.serve.formats import detect_format
from aiedge.serve.listen import bind, check_free
from aiedge.serve.metrics import ServeMetrics
from aiedge.serve.metrics_workers import WorkersMetrics
from aiedge.serve.protocol import with_timeouts
from aiedge.serve.registry import LOADING, READY, ModelRegistry
from aiedge.serve.repository import discover_versions, settings_name
from aiedge.serve.settings import ServeSettings
from aiedge.serve.shadow import ShadowMirror
from aiedge.serve.taps import Tap
from aiedge.serve.workers import supervise

log = logging.getLogger("aiedge.serve")


@dataclass(frozen=True)
class ModelSource:
    path: Path
    name: str
    version: str | None = None
    from_repository: bool = False  # found as a subfolder of a repository folder


def expand_sources(paths: list[Path], names: list[str], version: str | None = None) -> list[ModelSource]:
    """Pair PATHs with --name values. Without names, a model is named as its MLServer
    ``model-settings.json`` names it, else after its folder, and a folder whose subfolders are
    models (a model repository) serves each of them so."""
    if names and len(names) != len(paths):
        raise UnknownModelFormat(f"give one --name per PATH ({len(paths)} paths, {len(names)} names)")
    if version is not None and len(paths) != 1:
        raise UnknownModelFormat("--version goes with a single PATH")
    if names:
        return [ModelSource(p, n, version) for p, n in zip(paths, names, strict=True)]
    sources: list[ModelSource] = []
    for p in paths:
        if p.is_dir() and _is_repository(p):
            sources.extend(
                ModelSource(sub, settings_name(sub) or sub.name, None, True)
                for sub in sorted(p.iterdir())
                if sub.is_dir()
            )
        else:
            name = (settings_name(p) if p.is_dir() else None) or (p.stem if p.is_file() else p.name)
            sources.append(ModelSource(p, name, version))
    return sources


def _is_repository(path: Path) -> bool:
    try:
        detect_format(path)
        return False
    except UnknownModelFormat:
        pass
    subdirs = [d for d in path.iterdir() if d.is_dir()]
    return bool(subdirs) and not all(d.name.isdigit() for d in subdirs)


def build_registry(sources: list[ModelSource]) -> ModelRegistry:
    """Find every source's versions and check their format (UnknownModelFormat names the path)."""
    registry = ModelRegistry()
    for src in sources:
        versions = discover_versions(src.path, src.version)
        for path in versions.values():
            detect_format(path)
        if src.name in registry.models:
            raise UnknownModelFormat(f"two models are named {src.name!r}; give each its own --name")
        registry.add(src.name, versions)
    return registry


def run(sources: list[ModelSource], settings: ServeSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    many = settings.workers > 1
    # ports first: a taken port is one line now, not a traceback after every model has loaded
    http_socket = bind(settings.host, settings.http_port, "HTTP")
    if settings.grpc_port:
        check_free(settings.host, settings.grpc_port, "gRPC")
    if not many:
        _serve(sources, settings, http_socket)
        return
    # one listening socket for every worker (forked, they inherit it), held here for the workers
    # started again: a worker that dies leaves the connections queued on the port to the others.
    # With a SO_REUSEPORT socket each, the kernel had queued some to the killed worker's own
    # socket, and reset them when it closed.
    try:
        with tempfile.TemporaryDirectory(prefix="aiedge-serve-metrics-") as folder:

            def worker(index: int) -> None:
                _serve(sources, settings, http_socket, (Path(folder), index))

            code = supervise(settings.workers, worker)
    finally:
        http_socket.close()
    if code:
        raise SystemExit(code)


def _serve(
    sources: list[ModelSource],
    settings: ServeSettings,
    http_socket: socket.socket,
    workers: tuple[Path, int] | None = None,
) -> None:
    """One server process: load the models, serve HTTP on ``http_socket`` and gRPC, until stopped.
    A lone server answers at once (live while it loads); a worker (``workers`` given) loads first
    and only then accepts on the shared socket, so connections never reach a worker that cannot
    answer yet."""
    registry = build_registry(sources)
    registry.roots = sorted({src.path.parent for src in sources if src.from_repository})
    metrics = ServeMetrics(CollectorRegistry(), workers)
    taps: list[Tap] = []
    drift: DriftMonitor | None = None
    if settings.drift:
        # each worker keeps its own window over the connections it gets (a random share of all)
        drift = DriftMonitor(settings.drift_settings(), {src.name: read_profile(src.path) for src in sources})
        metrics.registry.register(drift)
        taps.append(drift)
    capture_settings = settings.capture_settings()
    capture = CaptureWriter(capture_settings) if capture_settings is not None else None
    if capture is not None:
        metrics.registry.register(capture)
        taps.append(capture)
    # the agent's shadow phase: mirrors only once it sets a target over the control endpoint
    mirror = ShadowMirror() if settings.control_token else None
    if mirror is not None:
        taps.append(mirror)
    dp = DataPlane(
        registry,
        metrics,
        slots=settings.slots,
        queue=settings.queue,
        limits=settings.limits(),
        max_batch=settings.max_batch,
        batch_delay=settings.batch_delay,
        taps=taps,
    )
    url = f"http://{settings.host}:{settings.http_port}"
    log.info("loading %d model(s): %s", len(registry.models), ", ".join(registry.models))

    state: dict[str, Any] = {}  # what start-up makes and shutdown stops

    if workers is not None:  # accepts only once loaded; meanwhile the others take the port's connections
        registry.load_all(settings.load_options())

    async def load() -> None:
        async def task() -> None:
            if any(mv.state == LOADING for mv in registry.all_versions()):
                await asyncio.to_thread(registry.load_all, settings.load_options())
            dp.record_loaded()
            # the runtimes leave large object graphs behind; move them out of the collector's way so
            # full collections stay short and don't show up as tail latency
            gc.collect()
            gc.freeze()
            for mv in registry.all_versions():
                if mv.state == READY and mv.model is not None:
                    if fallback := mv.model.signature.labels.get("device_fallback"):
                        log.warning("%s: %s", mv.name, fallback)
                    log.info(
                        "serving %s (%s, version %s) at %s, loaded in %.2f s",
                        mv.name,
                        mv.model.signature.platform,
                        mv.version,
                        url,
                        mv.load_seconds,
                    )

        state["loader"] = asyncio.create_task(task())
        if metrics.workers is not None:
            state["metrics"] = asyncio.create_task(_write_metrics(metrics.workers))
        if drift is not None:
            state["drift"] = asyncio.create_task(drift.run())
        if capture is not None:
            state["capture"] = asyncio.create_task(capture.run())
        if mirror is not None:
            state["shadow"] = asyncio.create_task(mirror.run())
        if settings.grpc_port:
            # imported here: grpc is costly to import, and the generated messages register the
            # protocol's "inference.*" names process-wide, which clients in the same process
            # (tritonclient, kserve) also register; importing the CLI must not claim them
            from aiedge.serve.grpc import service as grpc_service

            state["grpc"] = await grpc_service.start(
                dp, settings.host, settings.grpc_port, settings.max_connections
            )
            log.info("gRPC (Open Inference Protocol, TF Serving) at %s:%d", settings.host, settings.grpc_port)

    async def stop() -> None:
        if (writing := state.get("capture")) is not None:
            writing.cancel()  # closes the open capture file, so what it holds is uploaded too
            with contextlib.suppress(asyncio.CancelledError):
                await writing
        grpc_server = state.get("grpc")
        if grpc_server is not None:
            await grpc_server.stop(grace=5)

    control = (mirror, settings.control_token) if mirror is not None and settings.control_token else None
    app = create_app(dp, on_startup=load, on_shutdown=stop, options=settings.load_options(), shadow=control)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http=with_timeouts(
            settings.header_timeout, settings.body_timeout, settings.max_header_bytes, eager=True
        ),
        proxy_headers=False,  # nothing here reads client addresses; the middleware costs every request
        ws="none",  # no WebSocket routes: an upgrade request is an ordinary request
        limit_concurrency=settings.max_connections,
        timeout_keep_alive=settings.keep_alive_timeout,
        timeout_graceful_shutdown=30,
    )
    _Server(config).run(sockets=[http_socket])


async def _write_metrics(workers: WorkersMetrics) -> None:
    """This worker's series for the others to merge, once a second (a scrape reaches only one)."""
    while True:
        await asyncio.to_thread(workers.write)
        await asyncio.sleep(1.0)


class _Server(uvicorn.Server):
    """uvicorn, but a SIGTERM/SIGINT is a normal, graceful stop that exits 0 (uvicorn re-raises the
    signal after shutting down, which supervisors read as a crash)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
