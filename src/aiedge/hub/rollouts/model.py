"""A rollout as plain data: what the rules in :mod:`aiedge.hub.rollouts.rules` read and change,
and what :mod:`aiedge.hub.store` keeps. No database, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aiedge.contracts import DesiredApp
from aiedge.gitops.schema_rollout import RolloutSpec

# the rollout's state: under way; every site reached; stopped (more failures than allowed; failed
# sites went back); replaced by a newer version in Git; ended by an operator (every site back)
PROGRESSING, COMPLETE, FAILED, SUPERSEDED, ABORTED = (
    "progressing",
    "complete",
    "failed",
    "superseded",
    "aborted",
)
# per site: not reached yet; told the new version; healthy on it (soaking); soaked; failed (sent
# back); past its progress deadline with `onTimeout: skip` (counted as done, still watched)
PENDING, UPDATING, SOAKING, HEALTHY, SITE_FAILED, SKIPPED = (
    "pending", "updating", "soaking", "healthy", "failed", "skipped",
)  # fmt: skip
ON_NEW = (UPDATING, SOAKING, HEALTHY, SKIPPED)
SHAPING = (PROGRESSING, FAILED, ABORTED)  # states in which a rollout holds sites back


@dataclass(slots=True)
class SiteProgress:
    """Where one site of a rollout stands."""

    state: str
    since: datetime | None = None  # when it entered SOAKING, HEALTHY, FAILED or SKIPPED
    message: str = ""
    reached: datetime | None = None  # when its desired state first named the new version


@dataclass(slots=True)
class Rollout:
    """One app's move to a new version (digest, smoke test and config: the ``attempt``) over a
    placement's sites, in waves, each site starting from what it ran."""

    placement: str
    app: str
    revision: str
    from_digest: str  # what most sites ran before (for people)
    to_digest: str
    from_app: DesiredApp  # the app's previous version in Git (sites with no entry in from_apps)
    spec: RolloutSpec
    sites: list[str]  # the order the waves take them in
    progress: dict[str, SiteProgress]
    state: str
    wave: int  # index of the wave under way
    started_at: datetime
    updated_at: datetime
    id: int | None = None  # given by the store
    attempt: str = ""  # key of what is tried: the new DesiredApp without its secrets
    from_apps: dict[str, DesiredApp | None] = field(default_factory=dict)  # per site; None: nothing
    paused: bool = False  # by an operator (`aiedge rollout pause`); the Placement's is in spec

    def previous(self, site: str) -> DesiredApp | None:
        """What ``site`` goes back to (None: the app was not there)."""
        return self.from_apps.get(site, self.from_app)
