"""The site's link: every byte the agent sends and receives over it (hub traffic and registry
downloads), by kind and by UTC day, counted by :class:`MeteredTransport` under each HTTP client
that crosses the link, and the budget it keeps to (the Site's ``spec.link``, or ``--link-budget``:
the smaller one when both are set).

What is spent first is what keeps the site run and seen: control (polls, enrolment, operators'
requests), status and summaries always go. Raw metrics to the hub stop while the budget is spent.
Captured data for the capture bucket (``--capture-to``, counted as ``captures``: its bodies, as
boto3 sends them) and a model download go only when they fit in what is left of today's budget
after a reserve (a quarter of it) for the kinds above. Captured data waits at the site; a download
goes anyway when its app is ``urgent``, otherwise it waits (the app says ``Deferred``, naming the
budget) until tomorrow's budget, a bigger one, or ``urgent: true``.

The counts are HTTP bytes (request and status lines, headers, bodies as sent, compressed or not);
TCP/IP and TLS come on top on a real link. They are kept in ``DATA/link-usage.json`` (the last
:data:`DAYS` days), so a restart does not forget what the day has spent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

from aiedge.agent.progress import format_bytes
from aiedge.contracts import DayUsage, KindUsage, LinkBudget, LinkUsage

log = logging.getLogger(__name__)

KINDS = ("control", "status", "summaries", "metrics", "captures", "downloads")
DAYS = 7
RESERVE = 0.25  # of the budget, kept for control, status and summaries


def hub_kind(request: httpx.Request) -> str:
    """The kind of a request to the hub, by its path."""
    path = request.url.path
    if path.endswith("/status"):
        return "status"
    if path.endswith(("/minutes", "/drift")):  # drift reports are summaries of a window too
        return "summaries"
    if path.endswith("/metrics/write"):
        return "metrics"
    return "control"


class LinkMeter:
    """Bytes by day and kind, and the budget decisions; one per agent process."""

    def __init__(
        self, path: Path | None, flag_budget: int | None, clock: Callable[[], datetime] | None = None
    ):
        self.path = path
        self.flag_budget = flag_budget
        self.site_link: LinkBudget | None = None  # from the desired state
        self._clock = clock or (lambda: datetime.now(UTC))
        self._days: dict[date, dict[str, list[int]]] = {}
        self.deferred: dict[str, str] = {}  # what -> why, for the status report
        self._saving = threading.Lock()
        if path is not None:
            self._load(path)

    # -- counting ------------------------------------------------------------------------------

    def add(self, kind: str, sent: int = 0, received: int = 0) -> None:
        today = self._clock().date()
        day = self._days.setdefault(today, {})
        counts = day.setdefault(kind, [0, 0])
        counts[0] += sent
        counts[1] += received
        if len(self._days) > DAYS:
            for old in sorted(self._days)[: len(self._days) - DAYS]:
                del self._days[old]

    def used_today(self) -> int:
        day = self._days.get(self._clock().date(), {})
        return sum(s + r for s, r in day.values())

    # -- the budget ----------------------------------------------------------------------------

    @property
    def budget(self) -> int | None:
        given = [b for b in (self.flag_budget, self.site_link.budget if self.site_link else None) if b]
        return min(given) if given else None

    @property
    def metered(self) -> bool:
        """Whether the budget is kept to: a flag budget always is, a Site's as it says."""
        if self.budget is None:
            return False
        return self.flag_budget is not None or (self.site_link is not None and self.site_link.metered)

    def spent(self) -> bool:
        budget = self.budget
        return budget is not None and self.used_today() >= budget

    def raw_metrics_allowed(self) -> bool:
        allowed = not (self.metered and self.spent())
        if allowed:
            self.deferred.pop("raw metrics", None)
        else:
            self.deferred["raw metrics"] = "raw metrics to the hub: today's link budget is spent"
        return allowed

    def captures_allowed(self, need: int) -> bool:
        """Whether ``need`` bytes of captured data may be uploaded now: they wait at the site
        (within the App's buffer) while they do not fit in what is left after the reserve."""
        budget = self.budget
        allowed = (
            budget is None or not self.metered or need <= budget - int(budget * RESERVE) - self.used_today()
        )
        if allowed:
            self.deferred.pop("captured data", None)
        else:
            self.deferred["captured data"] = (
                "uploads to the capture bucket wait at the site: they do not fit in what is left "
                "of today's link budget"
            )
        return allowed

    def download_deferral(self, what: str, need: int, urgent: bool) -> str | None:
        """Why downloading ``need`` bytes for ``what`` must wait, for people; None when it may go."""
        budget = self.budget
        if budget is None or not self.metered or urgent or need <= 0:
            self.deferred.pop(what, None)
            return None
        left = budget - int(budget * RESERVE) - self.used_today()
        if need <= left:
            self.deferred.pop(what, None)
            return None
        now = self._clock()
        tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        why = (
            f"waits for the link budget: the download needs {format_bytes(need)}, "
            f"{format_bytes(max(left, 0))} of today's {format_bytes(budget)} is left for downloads "
            f"({format_bytes(self.used_today())} used); it goes when it fits (the budget renews "
            f"{tomorrow:%Y-%m-%d %H:%M}Z), with a bigger budget, or with urgent: true"
        )
        if self.deferred.get(what) is None:
            log.info("%s: %s", what, why)
        self.deferred[what] = why
        return why

    # -- reporting -----------------------------------------------------------------------------

    def usage(self) -> LinkUsage:
        days = [
            DayUsage(day=d, kinds={k: KindUsage(sent=s, received=r) for k, (s, r) in sorted(kinds.items())})
            for d, kinds in sorted(self._days.items())
        ]
        return LinkUsage(
            budget=self.budget,
            metered=self.metered,
            spent=self.spent(),
            deferred=[f"{what}: {why}" for what, why in sorted(self.deferred.items())],
            days=days[-8:],
        )

    def save(self) -> None:
        if self.path is None:
            return
        body = json.dumps({d.isoformat(): kinds for d, kinds in sorted(self._days.items())})
        tmp = self.path.with_name(self.path.name + ".tmp")
        with self._saving:  # reports are built by more than one task, each saving from a thread
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp.write_text(body)
                tmp.replace(self.path)
            except OSError as e:  # counting goes on in memory; the site keeps serving
                log.warning("%s: not saved: %s", self.path, e)

    def _load(self, path: Path) -> None:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("%s: unreadable (%s); counting the link from zero", path, e)
            return
        if not isinstance(raw, dict):
            return
        for day, kinds in list(raw.items())[-DAYS:]:
            try:
                d = date.fromisoformat(day)
                self._days[d] = {
                    str(k): [int(v[0]), int(v[1])]
                    for k, v in kinds.items()
                    if k in KINDS and isinstance(v, list) and len(v) == 2
                }
            except (ValueError, TypeError, AttributeError):
                log.warning("%s: skipping the unreadable day %r", path, day)


def _head_size(start_line: int, headers: httpx.Headers) -> int:
    return start_line + sum(len(k) + len(v) + 4 for k, v in headers.raw) + 2


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, add: Callable[[int], None]) -> None:
        self._inner = inner
        self._add = add

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._add(len(chunk))
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class MeteredTransport(httpx.AsyncBaseTransport):
    """Counts the bytes of every request and response through ``inner`` into ``meter``: heads
    as HTTP/1.1 writes them, bodies as they cross (compressed ones compressed)."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, meter: LinkMeter, kind: Callable[[httpx.Request], str]
    ) -> None:
        self._inner = inner
        self._meter = meter
        self._kind = kind

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = self._kind(request)
        target = len(request.url.raw_path)
        body = int(request.headers.get("content-length") or 0)
        self._meter.add(kind, sent=_head_size(len(request.method) + target + 11, request.headers) + body)
        response = await self._inner.handle_async_request(request)
        self._meter.add(kind, received=_head_size(15 + len(response.reason_phrase), response.headers))
        if not isinstance(response.stream, httpx.AsyncByteStream):
            return response  # not from an async transport: nothing to count it with
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountingStream(response.stream, lambda n: self._meter.add(kind, received=n)),
            extensions=response.extensions,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()
