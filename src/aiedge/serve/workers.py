"""``--workers N``: N server processes on the same ports, for sites with several cores.

The parent checks the ports, then forks the workers (before any runtime or gRPC is imported, so
forking is safe) and supervises them: a worker that dies is started again after a second (more
than five deaths in a minute stops the server: exit 1), and SIGTERM/SIGINT stop them all
gracefully. The workers share the parent's listening HTTP socket (whichever is free accepts; a
dead worker's share of the queue goes to the others) and bind gRPC with SO_REUSEPORT, each its
own; each loads its own copy of the models. Metrics: ``metrics_workers.py``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
import traceback
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("aiedge.serve")

RESTART_AFTER_S = 1.0
MAX_DEATHS, DEATH_WINDOW_S = 5, 60.0


def supervise(count: int, serve_one: Callable[[int], None]) -> int:
    """Run ``serve_one(index)`` in ``count`` forked processes until told to stop; the exit code."""
    children: dict[int, int] = {}  # pid -> worker index
    deaths: list[float] = []
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def start(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                serve_one(index)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(code)
        children[pid] = index

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            start(index)
        log.info("%d workers started (pids %s)", count, ", ".join(str(p) for p in children))
        code = 0
        while children:
            pid, status = os.wait()
            if pid not in children or stopping:
                children.pop(pid, None)
                continue
            index = children.pop(pid)
            now = time.monotonic()
            deaths[:] = [t for t in deaths if now - t < DEATH_WINDOW_S] + [now]
            why = (
                f"signal {os.WTERMSIG(status)}"
                if os.WIFSIGNALED(status)
                else f"code {os.waitstatus_to_exitcode(status)}"
            )
            if len(deaths) > MAX_DEATHS:
                log.error("worker %d exited (%s), %d times in a minute: stopping", index, why, len(deaths))
                code = 1
                stop(signal.SIGTERM, None)
                continue
            log.warning("worker %d exited (%s); starting it again", index, why)
            time.sleep(RESTART_AFTER_S)
            if not stopping:
                start(index)
        return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
