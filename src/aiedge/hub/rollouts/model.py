"""A rollout as plain data: what the rules in :mod:`aiedge.hub.rollouts.rules` read and change,
and what :mod:`aiedge.hub.store` keeps. No database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiedge.contracts import DesiredApp
from aiedge.gitops.schema import RolloutSpec

# the rollout's state
PROGRESSING, COMPLETE, FAILED, SUPERSEDED = "progressing", "complete", "failed", "superseded"
# per site: not reached yet; told the new digest; healthy on it (soaking); soaked; failed (rolled back)
PENDING, UPDATING, SOAKING, HEALTHY, SITE_FAILED = "pending", "updating", "soaking", "healthy", "failed"
ON_NEW = (UPDATING, SOAKING, HEALTHY)


@dataclass(slots=True)
class SiteProgress:
    """Where one site of a rollout stands."""

    state: str
    since: datetime | None = None
    message: str = ""


@dataclass(slots=True)
class Rollout:
    """One app's move from ``from_digest`` to ``to_digest`` over a placement's sites, in waves."""

    placement: str
    app: str
    revision: str
    from_digest: str
    to_digest: str
    from_app: DesiredApp  # what sites not (yet) on the new digest are held on
    spec: RolloutSpec
    sites: list[str]  # the order the waves take them in
    progress: dict[str, SiteProgress]
    state: str
    wave: int  # index of the wave under way
    started_at: datetime
    updated_at: datetime
    id: int | None = None  # given by the store
