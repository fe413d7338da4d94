"""Whether a new version may switch now: the app's maintenance windows (cron start + duration, in
the site's time zone) and the site-local hold (:mod:`aiedge.agent.holds`). Pure functions of the
app, the hold and the time, so they are tested without a clock of their own.

A window is open from each time its cron ``start`` fires until ``duration`` seconds later; a
window that opened before ``now`` and has not ended is open now, also across midnight.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from aiedge.agent.holds import Hold
from aiedge.contracts import DesiredApp, MaintenanceWindow


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # the hub validated it; a site without that zone's data reads UTC


def window_open(windows: list[MaintenanceWindow], zone: str | None, now: datetime) -> bool:
    local = now.astimezone(_zone(zone))
    for w in windows:
        last = croniter(w.start, local).get_prev(datetime)
        if last <= local < last + timedelta(seconds=w.duration):
            return True
    return False


def next_opening(windows: list[MaintenanceWindow], zone: str | None, now: datetime) -> datetime | None:
    """When the next window opens (in the zone), or None when there are none."""
    local = now.astimezone(_zone(zone))
    starts = [croniter(w.start, local).get_next(datetime) for w in windows]
    return min(starts) if starts else None


def deferral(app: DesiredApp, hold: Hold | None, now: datetime | None = None) -> str | None:
    """Why switching ``app`` to its new version must wait, for people; None when it may go now."""
    if hold is not None:
        since = f"{hold.since:%Y-%m-%d %H:%M}Z"
        return f"held at the site since {since}: {hold.reason} (`aiedge agent release` ends it)"
    if not app.windows:
        return None
    now = now or datetime.now(UTC)
    if window_open(app.windows, app.time_zone, now):
        return None
    nxt = next_opening(app.windows, app.time_zone, now)
    when = f"{nxt:%Y-%m-%d %H:%M} {app.time_zone or 'UTC'}" if nxt else "never"
    return f"outside its maintenance windows; the next opens {when}"
