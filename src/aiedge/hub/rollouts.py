"""Progressive rollouts of a new app digest (a Placement's ``rollout``): which sites get the new
digest (wave by wave), when the next wave starts (every site of the waves so far healthy on the new
digest for ``soakSeconds``), and when the rollout stops (more than ``maxFailures`` sites degraded
or failing their smoke test on it; failed sites go back to the previous digest).

Owns the ``rollouts`` table and the pure rules; :mod:`aiedge.hub.fleet` runs them inside its
transactions and publishes the resulting desired states. Knows nothing of HTTP.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import DateTime, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from aiedge.contracts import AppHealth, DesiredApp, StatusReport
from aiedge.gitops import GitopsRepo
from aiedge.gitops.desired import desired_app, desired_for_site
from aiedge.gitops.schema import RolloutSpec
from aiedge.gitops.selector import matches
from aiedge.hub.store import _Base

PROGRESSING, COMPLETE, FAILED, SUPERSEDED = "progressing", "complete", "failed", "superseded"
# per site: not reached yet; told the new digest; healthy on it (soaking); soaked; failed (rolled back)
PENDING, UPDATING, SOAKING, HEALTHY, SITE_FAILED = "pending", "updating", "soaking", "healthy", "failed"
_ON_NEW = (UPDATING, SOAKING, HEALTHY)
# condition reasons of an agent that refused the new digest and kept serving the old one
_REFUSED = ("SmokeTestFailed", "SignatureInvalid")


class RolloutRow(_Base):
    __tablename__ = "rollouts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    placement: Mapped[str] = mapped_column(String(63), index=True)
    app: Mapped[str] = mapped_column(String(63))
    revision: Mapped[str] = mapped_column(String(300))
    from_digest: Mapped[str] = mapped_column(String(80))
    to_digest: Mapped[str] = mapped_column(String(80))
    from_app: Mapped[str] = mapped_column(Text)  # the DesiredApp sites go back to
    spec: Mapped[str] = mapped_column(Text)  # the RolloutSpec, by alias
    sites: Mapped[str] = mapped_column(Text)  # JSON list, the order waves take them in
    progress: Mapped[str] = mapped_column(Text)  # JSON {site: {"state", "since", "message"}}
    state: Mapped[str] = mapped_column(String(20), index=True)
    wave: Mapped[int] = mapped_column(Integer)  # index of the wave under way
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def targets(spec: RolloutSpec, n: int) -> list[int]:
    """How many sites (of ``n``) have been reached by the end of each wave."""
    out: list[int] = []
    for w in spec.waves:
        k = w.sites if w.sites is not None else math.ceil(n * (w.percent or 0) / 100)
        out.append(max(min(k, n), out[-1] if out else 0))
    return out


def _spec(row: RolloutRow) -> RolloutSpec:
    return RolloutSpec.model_validate_json(row.spec)


def _progress(row: RolloutRow) -> dict[str, dict[str, Any]]:
    p: dict[str, dict[str, Any]] = orjson.loads(row.progress)
    return p


def placement_sites(repo: GitopsRepo, placement: str) -> list[str]:
    sel = repo.placements[placement].spec.site_selector
    return sorted(n for n, s in repo.sites.items() if matches(sel, s.metadata.labels))


def start_rollouts(s: Session, old: GitopsRepo | None, new: GitopsRepo, now: datetime) -> list[RolloutRow]:
    """New rollouts for every app of a placement with ``rollout`` whose digest changed from
    ``old`` to ``new``; a rollout still under way for the same placement and app is superseded
    (its sites not yet moved keep its previous digest as theirs)."""
    started: list[RolloutRow] = []
    if old is None:
        return started
    for pname, placement in new.placements.items():
        spec = placement.spec.rollout
        if spec is None:
            continue
        for app in placement.spec.apps:
            before = old.apps.get(app)
            after = new.apps[app]
            if before is None or before.spec.image.digest is None or after.spec.image.digest is None:
                continue  # a first build has nothing to roll back to
            if before.spec.image.digest == after.spec.image.digest:
                continue
            previous = desired_app(before)
            assert previous is not None
            for r in s.scalars(
                select(RolloutRow).where(
                    RolloutRow.placement == pname, RolloutRow.app == app, RolloutRow.state == PROGRESSING
                )
            ):
                r.state, r.updated_at = SUPERSEDED, now
                previous = DesiredApp.model_validate_json(r.from_app)
            sites = placement_sites(new, pname)
            first = targets(spec, len(sites))[0]
            row = RolloutRow(
                placement=pname,
                app=app,
                revision=new.revision,
                from_digest=previous.digest,
                to_digest=after.spec.image.digest,
                from_app=previous.model_dump_json(),
                spec=spec.model_dump_json(by_alias=True),
                sites=orjson.dumps(sites).decode(),
                progress=orjson.dumps(
                    {
                        n: {"state": UPDATING if i < first else PENDING, "since": None, "message": ""}
                        for i, n in enumerate(sites)
                    }
                ).decode(),
                state=PROGRESSING,
                wave=0,
                started_at=now,
                updated_at=now,
            )
            s.add(row)
            started.append(row)
    return started


def relevant(s: Session, repo: GitopsRepo) -> list[RolloutRow]:
    """The rollouts that shape desired states at ``repo``: the newest per placement and app,
    under way or failed, whose new digest is still the app's digest."""
    rows = s.scalars(
        select(RolloutRow).where(RolloutRow.state.in_((PROGRESSING, FAILED))).order_by(RolloutRow.id.desc())
    ).all()
    seen: set[tuple[str, str]] = set()
    out: list[RolloutRow] = []
    for r in rows:
        key = (r.placement, r.app)
        if key in seen:
            continue
        seen.add(key)
        app = repo.apps.get(r.app)
        if r.placement in repo.placements and app is not None and app.spec.image.digest == r.to_digest:
            out.append(r)
    return out


class Holdbacks:
    """Which (app, site) pairs are held on a rollout's previous app."""

    def __init__(self, rows: Iterable[RolloutRow]) -> None:
        self._held: dict[tuple[str, str], DesiredApp] = {}
        self.sites: set[str] = set()
        for r in rows:
            previous = DesiredApp.model_validate_json(r.from_app)
            for site, p in _progress(r).items():
                self.sites.add(site)
                if p["state"] not in _ON_NEW:
                    self._held.setdefault((r.app, site), previous)

    def apps_for(self, repo: GitopsRepo, site: str) -> list[DesiredApp]:
        apps = desired_for_site(repo, site).apps
        held = ((a, self._held.get((a.name, site))) for a in apps)
        # a held app keeps its previous image, but the site's secrets are those of this revision
        return [a if h is None else h.model_copy(update={"secrets": a.secrets}) for a, h in held]


def _verdict(report: StatusReport | None, row: RolloutRow, site_digest: str | None) -> tuple[str, str]:
    """``healthy``, ``failed`` or ``waiting`` for one site of the rollout, and why."""
    if report is None:
        return "waiting", ""
    for a in report.apps:
        if a.name != row.app:
            continue
        if a.digest == row.to_digest:
            if a.health == AppHealth.HEALTHY:
                return "healthy", ""
            if a.health in (AppHealth.DEGRADED, AppHealth.FAILED):
                return "failed", f"{a.health.value} on {row.to_digest}: {a.message}"
        # the agent keeps the previous version serving when the new one fails its smoke test or
        # its signature check
        told = report.desired_digest is not None and report.desired_digest == site_digest
        if told and (any(r in a.message for r in _REFUSED) or a.health == AppHealth.FAILED):
            return "failed", a.message
    return "waiting", ""


def step(
    row: RolloutRow,
    reports: dict[str, tuple[datetime, StatusReport]],
    digests: dict[str, str],
    now: datetime,
) -> bool:
    """Move one rollout on from the sites' latest reports; True when some site's desired
    state changes (reached by a new wave, or rolled back)."""
    spec = _spec(row)
    progress = _progress(row)
    sites: list[str] = orjson.loads(row.sites)
    tg = targets(spec, len(sites))
    moved = False
    for site in sites[: tg[row.wave]]:
        p = progress[site]
        if p["state"] in (SITE_FAILED, HEALTHY):
            continue
        seen = reports.get(site)
        verdict, why = _verdict(seen[1] if seen else None, row, digests.get(site))
        if verdict == "failed":
            p.update(state=SITE_FAILED, since=now.isoformat(), message=why)
            moved = True
        elif verdict == "healthy":
            if p["state"] == UPDATING:
                p.update(state=SOAKING, since=now.isoformat())
            if (now - datetime.fromisoformat(p["since"])).total_seconds() >= spec.soak_seconds:
                p["state"] = HEALTHY
        elif p["state"] == SOAKING:
            p.update(state=UPDATING, since=None)
    failures = sum(1 for p in progress.values() if p["state"] == SITE_FAILED)
    if failures > spec.max_failures:
        row.state = FAILED
    elif all(progress[n]["state"] in (HEALTHY, SITE_FAILED) for n in sites[: tg[row.wave]]):
        if row.wave + 1 < len(tg):
            row.wave += 1
            for n in sites[tg[row.wave - 1] : tg[row.wave]]:
                progress[n].update(state=UPDATING, since=None)
                moved = True
        else:
            row.state = COMPLETE
    row.progress = orjson.dumps(progress).decode()
    row.updated_at = now
    return moved


def as_json(row: RolloutRow) -> dict[str, Any]:
    """One rollout for ``GET /api/v1/rollouts``."""
    spec = _spec(row)
    progress = _progress(row)
    sites: list[str] = orjson.loads(row.sites)
    tg = targets(spec, len(sites))
    waves = []
    for i, w in enumerate(spec.waves):
        members = sites[(tg[i - 1] if i else 0) : tg[i]]
        states = [progress[n]["state"] for n in members]
        if row.state == SUPERSEDED or (i > row.wave and row.state != COMPLETE):
            state = "waiting"
        elif all(st in (HEALTHY, SITE_FAILED) for st in states) and (i < row.wave or row.state == COMPLETE):
            state = "done"
        elif row.state == FAILED:
            state = "stopped"
        else:
            state = "in-progress"
        waves.append({**w.model_dump(exclude_none=True), "state": state, "sites": members})
    return {
        "id": row.id,
        "placement": row.placement,
        "app": row.app,
        "revision": row.revision,
        "from_digest": row.from_digest,
        "to_digest": row.to_digest,
        "state": row.state,
        "wave": row.wave + 1,
        "waves": waves,
        "soakSeconds": spec.soak_seconds,
        "maxFailures": spec.max_failures,
        "failures": sum(1 for p in progress.values() if p["state"] == SITE_FAILED),
        **_phase(row, spec, progress, sites[: tg[row.wave]]),
        "sites": progress,
        "started_at": row.started_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def _phase(
    row: RolloutRow, spec: RolloutSpec, progress: dict[str, dict[str, Any]], reached: list[str]
) -> dict[str, Any]:
    """What a person asks first: how far (sites done / failed / updating / pending), and what it
    waits for: ``progressing`` (sites of the current wave to get healthy on the new digest),
    ``soaking`` until ``soak_until``, ``stopped`` (too many failures; they went back), ``complete``
    or ``superseded`` (a newer digest took over)."""
    states = [p["state"] for p in progress.values()]
    counts = {
        "done": states.count(HEALTHY),
        "failed": states.count(SITE_FAILED),
        "updating": states.count(UPDATING) + states.count(SOAKING),
        "pending": states.count(PENDING),
    }
    soak_until: str | None = None
    phase = {FAILED: "stopped", COMPLETE: "complete", SUPERSEDED: "superseded"}.get(row.state, "progressing")
    if row.state == PROGRESSING:
        current = [progress[n] for n in reached]
        soaking = [p for p in current if p["state"] == SOAKING]
        if soaking and all(p["state"] in (SOAKING, HEALTHY, SITE_FAILED) for p in current):
            phase = "soaking"
            ends = max(datetime.fromisoformat(p["since"]) for p in soaking) + timedelta(
                seconds=spec.soak_seconds
            )
            soak_until = ends.isoformat()
    return {"phase": phase, "soak_until": soak_until, "total_waves": len(spec.waves), "counts": counts}


def list_rollouts(s: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = s.scalars(select(RolloutRow).order_by(RolloutRow.id.desc()).limit(limit)).all()
    return [as_json(r) for r in rows]


def any_progressing(s: Session) -> bool:
    found = s.scalars(select(RolloutRow.id).where(RolloutRow.state == PROGRESSING).limit(1)).first()
    return found is not None
