"""Maintenance windows and prefetch, on a Placement (``spec.windows``, ``spec.prefetch``) or a
Site (``spec.windows``, ``spec.timeZone``). Shape and per-field rules only; the agent decides at
the site, in the site's time zone, whether a window is open.

- ``windows``: a list of ``{start: "0 2 * * *", duration: 2h}``: ``start`` a 5-field cron
  expression (minute hour day-of-month month day-of-week) saying when a window opens, ``duration``
  how long it stays open (seconds, or ``90s``, ``30m``, ``2h``, ``1d``; at most 7 days). A new
  version switches only inside a window; a Placement's windows replace its Site's for the apps it
  places;
- ``prefetch``: download a new version at once and switch to it in the next window (default: the
  download waits for the window too);
- ``timeZone``: the Site's IANA time zone (``Europe/Berlin``) the windows are read in; default UTC.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from aiedge.gitops.schema_rollout import Seconds

MAX_WINDOW_SECONDS = 7 * 86400.0


def check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"want a 5-field cron expression (minute hour day-of-month month day-of-week), "
            f"such as '0 2 * * *'; got {len(fields)} fields"
        )
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression")
    return " ".join(fields)


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (such as Europe/Berlin or UTC)") from None
    return value


Cron = Annotated[str, AfterValidator(check_cron)]
TimeZone = Annotated[str, AfterValidator(check_time_zone)]


class MaintenanceWindow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: Cron = Field(description="5-field cron expression: when the window opens, in the site's time zone")
    duration: Annotated[Seconds, Field(le=MAX_WINDOW_SECONDS)] = Field(
        description="how long the window stays open (seconds, or 30m, 2h; at most 7 days)"
    )
