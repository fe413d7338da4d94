"""Answers to the requests an operator sends through the hub (:mod:`aiedge.contracts.requests`):
the tail of the agent's log or of an app's model server, and a diagnosis (agent state, the
host's facts, last errors, cache and disk usage, holds). Every answer is bounded and redacted
(:mod:`aiedge.agent.redact`) before it leaves the site; nothing here opens a port."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiedge import __version__
from aiedge.agent.cache import ImageCache
from aiedge.agent.errors import AgentError
from aiedge.agent.holds import read_hold
from aiedge.agent.logbook import LogBook, file_tail
from aiedge.agent.reconcile import Reconciler
from aiedge.agent.redact import Redactor
from aiedge.agent.settings import AgentSettings
from aiedge.contracts import RequestKind, SiteAnswer, SiteRequest
from aiedge.errors import AiedgeError

MAX_ANSWER_CHARS = 512 << 10


@dataclass
class SiteView:
    """What an answer may read of the running agent."""

    settings: AgentSettings
    reconciler: Reconciler
    cache: ImageCache
    logbook: LogBook
    hub_error: str | None
    credential: str | None


async def answer_request(request: SiteRequest, view: SiteView) -> SiteAnswer:
    redactor = Redactor(_secrets(view))
    try:
        if request.kind is RequestKind.DIAGNOSE:
            return SiteAnswer(diagnosis=_redacted(await asyncio.to_thread(diagnose, view), redactor))
        lines, more = await asyncio.to_thread(_logs, request, view)
    except (AiedgeError, OSError) as e:
        return SiteAnswer(error=redactor.line(str(e))[:2000])
    kept = redactor.lines(lines)
    while kept and sum(len(x) + 1 for x in kept) > MAX_ANSWER_CHARS:
        kept, more = kept[len(kept) // 4 + 1 :], True
    return SiteAnswer(lines=kept, truncated=more)


def _logs(request: SiteRequest, view: SiteView) -> tuple[list[str], bool]:
    if request.app is None:
        return view.logbook.tail(request.lines, request.since)
    known = {a.name for a in view.reconciler.apps} | set(view.reconciler.slots)
    if request.app not in known:
        raise AgentError(
            f"this site runs no app {request.app!r} (apps: {', '.join(sorted(known)) or 'none'})"
        )
    path = view.settings.logs_dir / f"{request.app}.log"
    if not path.is_file():
        return [f"(no log file for app {request.app} at this site yet)"], False
    return file_tail(path, request.lines, request.since)


def diagnose(view: SiteView) -> dict[str, Any]:
    settings, rec = view.settings, view.reconciler
    desired = rec.state.desired
    apps: list[dict[str, Any]] = []
    errors: list[str] = []
    for app in rec.apps:
        slot = rec.slots.get(app.name)
        serving = slot.serving() if slot else None
        previous = slot.previous if slot else None
        apps.append(
            {
                "name": app.name,
                "desired": app.digest,
                "serving": serving.app.digest if serving else None,
                "previous": previous.app.digest if previous is not None and previous.alive() else None,
                "reason": str(slot.reason) if slot else "Progressing",
                "message": slot.message if slot else "not started yet",
                "windows": [w.model_dump() for w in app.windows],
            }
        )
        if slot is not None and str(slot.reason) != "Ready":
            errors.append(f"{app.name}: {slot.reason}: {slot.message}")
    disk = shutil.disk_usage(settings.data)
    hold = read_hold(settings.data)
    return {
        "site": settings.site,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "agent": {
            "version": __version__,
            "pid": os.getpid(),
            "hub": settings.hub,
            "runtime": settings.runtime,
        },
        "state": {
            "revision": desired.revision if desired else None,
            "desired_digest": desired.digest if desired else None,
            "apps": apps,
        },
        "last_errors": errors,
        "hub_error": view.hub_error,
        "hold": {"reason": hold.reason, "since": hold.since.isoformat()} if hold else None,
        "facts": _facts(),
        "cache": {
            "bytes": view.cache.pruner.usage(),
            "cache_max": settings.cache_max,
            "min_free": settings.min_free,
            "disk_free": disk.free,
            "disk_total": disk.total,
        },
    }


def _facts() -> dict[str, Any]:
    memory = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in open("/proc/meminfo").read().splitlines():  # noqa: SIM115 - a tiny read
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) * 1024
    return {
        "hostname": socket.gethostname(),
        "arch": platform.machine(),
        "os": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_bytes": memory,
        "python": platform.python_version(),
    }


def _secrets(view: SiteView) -> list[str]:
    """Values that must never leave: the site's credential and its apps' decrypted secrets."""
    found = [view.credential] if view.credential else []
    identity = view.reconciler.identity
    if identity is not None:
        for app in view.reconciler.apps:
            if app.secrets:
                with contextlib.suppress(AiedgeError):
                    found += identity.env_for(app).values()
    return found


def _redacted(value: Any, redactor: Redactor) -> Any:
    if isinstance(value, str):
        return redactor.line(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v, redactor) for v in value]
    return value
