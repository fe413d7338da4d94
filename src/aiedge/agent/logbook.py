"""The agent's own recent log lines, kept in memory (a bounded ring) so ``aiedge logs SITE`` can
read them through the hub, and the tail of one app's model-server log file (``DATA/logs/APP.log``),
read within bounds: at most the last 4 MiB of the file, at most ``lines`` lines, each cut at
:data:`~aiedge.contracts.requests.MAX_LINE_CHARS` characters."""

from __future__ import annotations

import collections
import logging
import re
import time
from datetime import datetime
from pathlib import Path

from aiedge.contracts.requests import MAX_LINE_CHARS

TAIL_BYTES = 4 << 20
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")


class LogBook(logging.Handler):
    """A logging handler keeping the newest ``size`` formatted records with their times."""

    def __init__(self, size: int = 5000) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._records: collections.deque[tuple[float, str]] = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._records.append((record.created, self.format(record)))
        except Exception:  # a log line must never break the agent
            self.handleError(record)

    def tail(self, lines: int, since: float | None) -> tuple[list[str], bool]:
        """(the newest ``lines`` lines newer than ``since`` seconds ago, whether more matched)."""
        cutoff = time.time() - since if since else None
        found = [text for created, text in list(self._records) if cutoff is None or created >= cutoff]
        return _cut(found[-lines:]), len(found) > lines


def file_tail(path: Path, lines: int, since: float | None) -> tuple[list[str], bool]:
    """The newest ``lines`` lines of ``path`` (lines with a leading time older than ``since``
    seconds left out; lines without a time of their own kept)."""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - TAIL_BYTES))
        data = f.read(TAIL_BYTES)
    text = data.decode("utf-8", errors="replace").splitlines()
    if size > TAIL_BYTES and text:
        text = text[1:]  # the first line was cut by the seek
    if since:
        cutoff = datetime.fromtimestamp(time.time() - since)
        text = [line for line in text if _after(line, cutoff)]
    return _cut(text[-lines:]), len(text) > lines


def _after(line: str, cutoff: datetime) -> bool:
    m = _STAMP.match(line)
    if m is None:
        return True
    try:
        return datetime.fromisoformat(m.group(1).replace(" ", "T")) >= cutoff
    except ValueError:
        return True


def _cut(lines: list[str]) -> list[str]:
    return [
        "".join(c if c.isprintable() or c == "\t" else "?" for c in line[:MAX_LINE_CHARS]) for line in lines
    ]
