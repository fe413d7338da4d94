"""What an operator can do to a rollout (``aiedge rollout pause|resume|abort|retry APP``), as pure
functions over plain data; each answers one line for people or refuses with
:class:`RolloutCommandRefused`.

- ``pause``: no new wave starts (sites already reached go on); ``resume`` undoes it;
- ``abort``: every site goes back to what it ran before the rollout, and stays there until Git
  asks for another version (or ``retry``);
- ``retry``: a stopped or aborted rollout goes on: its failed (and skipped) sites try again.
"""

from __future__ import annotations

from datetime import datetime

from aiedge.hub.errors import HubError
from aiedge.hub.rollouts.model import (
    ABORTED,
    FAILED,
    PROGRESSING,
    SITE_FAILED,
    SKIPPED,
    UPDATING,
    Rollout,
    SiteProgress,
)

ACTIONS = ("pause", "resume", "abort", "retry")


class RolloutCommandRefused(HubError):
    """An operator command that does not apply to the rollout as it stands."""


def apply(action: str, r: Rollout, now: datetime) -> str:
    """Do ``action`` to ``r``; what happened, in one line."""
    name = f"rollout of {r.app} ({r.placement}) to {r.to_digest[:19]}"
    if action == "pause":
        if r.state != PROGRESSING:
            raise RolloutCommandRefused(f"{name} is {r.state}: nothing to pause")
        r.paused = True
        done = "paused: no new wave starts until `aiedge rollout resume`"
    elif action == "resume":
        if r.state != PROGRESSING or not (r.paused or r.spec.paused):
            raise RolloutCommandRefused(f"{name} is {r.state}, not paused")
        if not r.paused:
            raise RolloutCommandRefused(f"{name} is paused in Git (spec.rollout.paused): remove it there")
        r.paused = False
        done = "resumed"
    elif action == "abort":
        if r.state not in (PROGRESSING, FAILED):
            raise RolloutCommandRefused(f"{name} is {r.state}: nothing to abort")
        r.state = ABORTED
        done = "aborted: every site goes back to what it ran before"
    elif action == "retry":
        if r.state not in (FAILED, ABORTED) and not any(p.state == SITE_FAILED for p in r.progress.values()):
            raise RolloutCommandRefused(f"{name} is {r.state} with no failed site: nothing to retry")
        again = [n for n, p in r.progress.items() if p.state in (SITE_FAILED, SKIPPED)]
        for n in again:
            r.progress[n] = SiteProgress(UPDATING, reached=now)
        r.state = PROGRESSING
        done = f"retried: {len(again)} site{'' if len(again) == 1 else 's'} try again"
    else:
        raise RolloutCommandRefused(f"unknown action {action!r}: want one of {', '.join(ACTIONS)}")
    r.updated_at = now
    return f"{name} {done}"
