"""When the agent posts its status report: when it changed, and otherwise every ``status_refresh``
seconds, to a hub that takes the site's polls as its heartbeat (it announced one); every time to an
older hub, whose only sign of life from a site is its reports.

What counts as a change is everything in the report but its ``time`` and its link's byte counts
(which move with every byte and ride along with the next change or refresh). A report that could not
be sent, or a hub that was unreachable, makes the next one go whatever it says: the hub may have
lost it, or restarted on an older database.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from aiedge.contracts import StatusReport

# fields that change without the site's state changing: the link's byte counts (a spent budget, or
# what it defers, does change it) and free disk, among the site's facts, which moves a little with
# every report
_NOT_A_CHANGE: dict[str, Any] = {"time": True, "link": {"days": True}, "facts": {"disk_free_bytes": True}}


def fingerprint(report: StatusReport) -> str:
    body = report.model_dump_json(exclude=_NOT_A_CHANGE)
    return hashlib.sha256(body.encode()).hexdigest()


class StatusCadence:
    def __init__(self, refresh_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh_s = refresh_s
        self._clock = clock
        self._sent: str | None = None
        self._sent_at = -math.inf

    def due(self, report: StatusReport, every_time: bool) -> bool:
        """Whether ``report`` should be posted (``every_time``: the hub has no heartbeat)."""
        if every_time or self._sent is None:
            return True
        return fingerprint(report) != self._sent or self._clock() - self._sent_at >= self.refresh_s

    def sent(self, report: StatusReport) -> None:
        self._sent, self._sent_at = fingerprint(report), self._clock()

    def forget(self) -> None:
        """The next report goes, changed or not."""
        self._sent = None
