"""One app at the site: its site-port proxies, the server taking traffic, the previous one kept
warm for rollback, its restart backoff, its condition (a typed reason + a message for people)
and, while it downloads, its progress."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiedge.agent.backoff import Backoff
from aiedge.agent.progress import DownloadProgress
from aiedge.agent.proxy import SiteProxy
from aiedge.agent.runtime import Instance
from aiedge.contracts import AppReason


@dataclass
class AppSlot:
    name: str
    backoff: Backoff
    http: SiteProxy | None = None
    grpc: SiteProxy | None = None
    active: Instance | None = None
    previous: Instance | None = None
    reason: AppReason = AppReason.PROGRESSING
    message: str = "not started yet"
    progress: DownloadProgress | None = None  # while downloading
    target: str | None = None  # the digest being deployed, or last refused; None once it serves
    not_before: float = 0.0  # monotonic time before which no new start is tried
    backoff_digest: str | None = None  # the digest the backoff counts failures for
    # per running instance (by id): the device it serves on and why not the one asked for
    served_on: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)

    def set(self, reason: AppReason, message: str) -> None:
        self.reason = reason
        self.message = message

    def waiting(self, digest: str) -> float:
        """Seconds left before the next try for ``digest`` (0 when it may go now)."""
        if digest != self.backoff_digest:
            self.backoff.reset()
            self.backoff_digest = digest
            self.not_before = 0.0
        return max(0.0, self.not_before - time.monotonic())

    def failed_attempt(self) -> float:
        delay = self.backoff.next_delay()
        self.not_before = time.monotonic() + delay
        return delay

    def succeeded(self) -> None:
        self.backoff.reset()
        self.not_before = 0.0

    def device(self, instance: Instance | None) -> tuple[str | None, str | None]:
        return self.served_on.get(id(instance), (None, None)) if instance is not None else (None, None)

    def forget_stopped(self) -> None:
        """Only the active and the previous instance keep their device."""
        keep = {id(i) for i in (self.active, self.previous) if i is not None}
        self.served_on = {k: v for k, v in self.served_on.items() if k in keep}

    def serving(self) -> Instance | None:
        return self.active if self.active is not None and self.active.alive() else None
