"""A rollout as ``GET /api/v1/rollouts`` shows it: waves with their sites and state, counts, and
what it waits for. Pure: plain data in, JSON-ready dicts out."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiedge.hub.rollouts import model as m
from aiedge.hub.rollouts.model import Rollout, SiteProgress
from aiedge.hub.rollouts.rules import targets


def _time(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _site_json(r: Rollout, site: str, p: SiteProgress) -> dict[str, Any]:
    back = r.previous(site)
    return {
        "state": p.state,
        "since": _time(p.since),
        "message": p.message,
        "reached": _time(p.reached),
        "from_digest": back.digest if back else None,  # what it goes back to
    }


def _wave_state(r: Rollout, i: int, states: list[str]) -> str:
    if r.state == m.SUPERSEDED or (i > r.wave and r.state != m.COMPLETE):
        return "waiting"
    settled = all(st in (m.HEALTHY, m.SITE_FAILED, m.SKIPPED) for st in states)
    if settled and (i < r.wave or r.state == m.COMPLETE):
        return "done"
    if r.state in (m.FAILED, m.ABORTED):
        return "stopped"
    return "in-progress"


def as_json(r: Rollout) -> dict[str, Any]:
    """One rollout for ``GET /api/v1/rollouts``."""
    spec, progress, sites = r.spec, r.progress, r.sites
    tg = targets(spec, len(sites))
    waves = []
    for i, w in enumerate(spec.waves):
        members = sites[(tg[i - 1] if i else 0) : tg[i]]
        deadline, policy = spec.deadline(i)
        waves.append(
            {
                **w.model_dump(exclude_none=True, by_alias=True),
                "progressDeadline": deadline,
                "onTimeout": policy.value,
                "state": _wave_state(r, i, [progress[n].state for n in members]),
                "sites": members,
            }
        )
    return {
        "id": r.id,
        "placement": r.placement,
        "app": r.app,
        "revision": r.revision,
        "from_digest": r.from_digest,
        "to_digest": r.to_digest,
        "attempt": r.attempt,
        "state": r.state,
        "wave": r.wave + 1,
        "waves": waves,
        "soakSeconds": spec.soak_seconds,
        "maxFailures": spec.max_failures,
        "failure_budget": spec.failure_budget(len(sites)),
        "paused": r.paused or spec.paused,
        "paused_by": "operator" if r.paused else "git" if spec.paused else None,
        "failures": sum(1 for p in progress.values() if p.state == m.SITE_FAILED),
        **_phase(r, sites[: tg[r.wave]]),
        "sites": {n: _site_json(r, n, p) for n, p in progress.items()},
        "started_at": r.started_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


def _phase(r: Rollout, reached: list[str]) -> dict[str, Any]:
    """What a person asks first: how far (sites done / failed / updating / pending / skipped),
    and what it waits for: ``progressing`` (sites of the current wave to get healthy on the new
    version), ``soaking`` until ``soak_until``, ``paused``, ``stopped`` (too many failures; they
    went back), ``aborted``, ``complete`` or ``superseded`` (a newer version took over)."""
    states = [p.state for p in r.progress.values()]
    counts = {
        "done": states.count(m.HEALTHY),
        "failed": states.count(m.SITE_FAILED),
        "updating": states.count(m.UPDATING) + states.count(m.SOAKING),
        "pending": states.count(m.PENDING),
        "skipped": states.count(m.SKIPPED),
    }
    soak_until: str | None = None
    ended = {m.FAILED: "stopped", m.COMPLETE: "complete", m.SUPERSEDED: "superseded", m.ABORTED: "aborted"}
    phase = ended.get(r.state, "progressing")
    if r.state == m.PROGRESSING:
        current = [r.progress[n] for n in reached]
        soaking = [p.since for p in current if p.state == m.SOAKING and p.since is not None]
        if r.paused or r.spec.paused:
            phase = "paused"
        elif soaking and all(p.state in (m.SOAKING, m.HEALTHY, m.SITE_FAILED, m.SKIPPED) for p in current):
            phase = "soaking"
            soak_until = (max(soaking) + timedelta(seconds=r.spec.soak_seconds)).isoformat()
    return {"phase": phase, "soak_until": soak_until, "total_waves": len(r.spec.waves), "counts": counts}
