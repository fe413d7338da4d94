"""The site-local hold: while ``DATA/hold`` exists no app switches to a new version (what serves
keeps serving, restarts included). Its text is the reason, written by ``aiedge agent hold
--reason ...`` or by any line-of-business system that can write a file (``echo "shift change" >
DATA/hold``); removing it (``aiedge agent release``) ends the hold.

The file is data from outside the agent: only its first 4 KiB are read, the reason is one line of
at most 200 printable characters, and a link in its place is not followed.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HOLD_FILE = "hold"
_MAX_READ = 4096
_MAX_REASON = 200


@dataclass(frozen=True)
class Hold:
    reason: str
    since: datetime


def hold_path(data: Path) -> Path:
    return data / HOLD_FILE


def read_hold(data: Path) -> Hold | None:
    """The hold in ``data``, or None. A hold file that cannot be read still holds: a switch
    the operator tried to stop must not happen because of a permission bit."""
    path = hold_path(data)
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as e:
        return Hold(f"(hold file unreadable: {e.strerror})", datetime.now(UTC))
    since = datetime.fromtimestamp(st.st_mtime, UTC)
    if not stat.S_ISREG(st.st_mode):
        return Hold("(the hold file is not a regular file)", since)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            raw = os.read(fd, _MAX_READ)
        finally:
            os.close(fd)
    except OSError as e:
        return Hold(f"(hold file unreadable: {e.strerror})", since)
    return Hold(_reason(raw), since)


def _reason(raw: bytes) -> str:
    lines = raw.decode("utf-8", errors="replace").strip().splitlines()
    first = "".join(c if c.isprintable() else "?" for c in (lines[0] if lines else "")).strip()
    if len(first) > _MAX_REASON:
        first = first[: _MAX_REASON - 3] + "..."
    return first or "(no reason given)"


def write_hold(data: Path, reason: str) -> Hold:
    """Place the hold atomically (temp file, rename), so the agent never reads half a reason."""
    data.mkdir(parents=True, exist_ok=True)
    path = hold_path(data)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(reason.strip() + "\n")
    tmp.replace(path)
    found = read_hold(data)
    assert found is not None
    return found


def release_hold(data: Path) -> bool:
    """Remove the hold; False when there was none."""
    try:
        hold_path(data).unlink()
    except FileNotFoundError:
        return False
    return True
