"""A rollout as ``GET /api/v1/rollouts`` shows it: waves with their sites and state, counts, and
what it waits for. Pure: plain data in, JSON-ready dicts out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiedge.hub.rollouts import model as m
from aiedge.hub.rollouts.model import Rollout, SiteProgress
from aiedge.hub.rollouts.rules import targets


def _site_json(p: SiteProgress) -> dict[str, Any]:
    return {"state": p.state, "since": p.since.isoformat() if p.since else None, "message": p.message}


def as_json(r: Rollout) -> dict[str, Any]:
    """One rollout for ``GET /api/v1/rollouts``."""
    spec, progress, sites = r.spec, r.progress, r.sites
    tg = targets(spec, len(sites))
    waves = []
    for i, w in enumerate(spec.waves):
        members = sites[(tg[i - 1] if i else 0) : tg[i]]
        states = [progress[n].state for n in members]
        if r.state == m.SUPERSEDED or (i > r.wave and r.state != m.COMPLETE):
            state = "waiting"
        elif all(st in (m.HEALTHY, m.SITE_FAILED) for st in states) and (i < r.wave or r.state == m.COMPLETE):
            state = "done"
        elif r.state == m.FAILED:
            state = "stopped"
        else:
            state = "in-progress"
        waves.append({**w.model_dump(exclude_none=True), "state": state, "sites": members})
    return {
        "id": r.id,
        "placement": r.placement,
        "app": r.app,
        "revision": r.revision,
        "from_digest": r.from_digest,
        "to_digest": r.to_digest,
        "state": r.state,
        "wave": r.wave + 1,
        "waves": waves,
        "soakSeconds": spec.soak_seconds,
        "maxFailures": spec.max_failures,
        "failures": sum(1 for p in progress.values() if p.state == m.SITE_FAILED),
        **_phase(r, sites[: tg[r.wave]]),
        "sites": {n: _site_json(p) for n, p in progress.items()},
        "started_at": r.started_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


def _phase(r: Rollout, reached: list[str]) -> dict[str, Any]:
    """What a person asks first: how far (sites done / failed / updating / pending), and what it
    waits for: ``progressing`` (sites of the current wave to get healthy on the new digest),
    ``soaking`` until ``soak_until``, ``stopped`` (too many failures; they went back), ``complete``
    or ``superseded`` (a newer digest took over)."""
    states = [p.state for p in r.progress.values()]
    counts = {
        "done": states.count(m.HEALTHY),
        "failed": states.count(m.SITE_FAILED),
        "updating": states.count(m.UPDATING) + states.count(m.SOAKING),
        "pending": states.count(m.PENDING),
    }
    soak_until: str | None = None
    phase = {m.FAILED: "stopped", m.COMPLETE: "complete", m.SUPERSEDED: "superseded"}.get(
        r.state, "progressing"
    )
    if r.state == m.PROGRESSING:
        current = [r.progress[n] for n in reached]
        soaking = [p for p in current if p.state == m.SOAKING and p.since is not None]
        if soaking and all(p.state in (m.SOAKING, m.HEALTHY, m.SITE_FAILED) for p in current):
            phase = "soaking"
            ends = max(p.since for p in soaking if p.since is not None)
            soak_until = (ends + timedelta(seconds=r.spec.soak_seconds)).isoformat()
    return {"phase": phase, "soak_until": soak_until, "total_waves": len(r.spec.waves), "counts": counts}
