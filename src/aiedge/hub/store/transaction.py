"""One unit of work on the hub's tables (``with store.transaction() as tx:``): every read and write
of the published fleet state, the desired states and the rollouts inside one database transaction,
as plain data in and out. Committed when the block ends, rolled back when it raises."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
from sqlalchemy import Table, delete, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aiedge.contracts import (
    TAKEN_AT_ONCE,
    DesiredApp,
    RequestSpec,
    RequestState,
    RequestView,
    SiteAnswer,
    SiteRequest,
    StatusReport,
)
from aiedge.gitops.schema_rollout import RolloutSpec
from aiedge.hub.rollouts.model import Rollout, SiteProgress
from aiedge.hub.store.engine import NOTIFY_CHANNEL
from aiedge.hub.store.rows import DesiredRow, FleetStateRow, RolloutRow, SiteReportRow, SiteRequestRow, utc


@dataclass(frozen=True, slots=True)
class PublishedFleet:
    """The fleet row as read: the revision every hub serves, its files, and the generation."""

    revision: str | None
    files: bytes | None
    generation: int


def lock_fleet_row(s: Session) -> FleetStateRow:
    """The fleet row, locked for the transaction: every publisher, rollout step and operator
    command queues here, so each reads what the one before it wrote. PostgreSQL locks the row
    (``FOR UPDATE``). SQLite has no row locks, and Python's driver starts a transaction only at
    its first write, so until then every read sees whatever another connection just committed: a
    step that read a paused rollout could write it back over an operator's ``resume``. A write to
    the row first takes SQLite's one write lock (waiting on the busy timeout) and starts the
    transaction, so the reads after it are the transaction's."""
    if s.get_bind().dialect.name == "sqlite":
        s.execute(
            update(FleetStateRow).where(FleetStateRow.id == 1).values(generation=FleetStateRow.generation),
            execution_options={"synchronize_session": False},
        )
    return s.scalars(select(FleetStateRow).where(FleetStateRow.id == 1).with_for_update()).one()


def notify(s: Session, generation: int) -> None:
    """Tell every hub on PostgreSQL that the generation moved (sent at commit)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_notify(:c, :g)"), {"c": NOTIFY_CHANNEL, "g": str(generation)})


def bump_generation(s: Session) -> int:
    """Move the fleet generation (and tell every hub, at commit): each hub then forgets the
    credentials and operator tokens it had checked, within a second. Every revocation does it."""
    fleet = lock_fleet_row(s)
    fleet.generation += 1
    notify(s, fleet.generation)
    return fleet.generation


def _when(text: str | None) -> datetime | None:
    return utc(datetime.fromisoformat(text)) if text else None


def _rollout(row: RolloutRow) -> Rollout:
    progress = {
        site: SiteProgress(p["state"], _when(p.get("since")), p.get("message", ""), _when(p.get("reached")))
        for site, p in orjson.loads(row.progress).items()
    }
    from_apps: dict[str, DesiredApp | None] = {
        site: None if a is None else DesiredApp.model_validate(a)
        for site, a in orjson.loads(row.from_apps or "{}").items()
    }
    return Rollout(
        placement=row.placement,
        app=row.app,
        revision=row.revision,
        from_digest=row.from_digest,
        to_digest=row.to_digest,
        from_app=DesiredApp.model_validate_json(row.from_app),
        spec=RolloutSpec.model_validate_json(row.spec),
        sites=orjson.loads(row.sites),
        progress=progress,
        state=row.state,
        wave=row.wave,
        started_at=utc(row.started_at),
        updated_at=utc(row.updated_at),
        id=row.id,
        attempt=row.attempt or "",
        from_apps=from_apps,
        paused=bool(row.paused),
    )


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _fill(row: RolloutRow, r: Rollout) -> None:
    row.placement, row.app, row.revision = r.placement, r.app, r.revision
    row.from_digest, row.to_digest = r.from_digest, r.to_digest
    row.from_app = r.from_app.model_dump_json()
    row.spec = r.spec.model_dump_json(by_alias=True)
    row.sites = orjson.dumps(r.sites).decode()
    row.progress = orjson.dumps(
        {
            n: {"state": p.state, "since": _iso(p.since), "message": p.message, "reached": _iso(p.reached)}
            for n, p in r.progress.items()
        }
    ).decode()
    row.state, row.wave = r.state, r.wave
    row.started_at, row.updated_at = r.started_at, r.updated_at
    row.attempt, row.paused = r.attempt, r.paused
    row.from_apps = orjson.dumps(
        {n: None if a is None else a.model_dump(mode="json") for n, a in r.from_apps.items()}
    ).decode()


def read_rollouts(
    s: Session, states: tuple[str, ...] | None = None, limit: int | None = None
) -> list[Rollout]:
    q = select(RolloutRow)
    if states is not None:
        q = q.where(RolloutRow.state.in_(states))
    q = q.order_by(RolloutRow.id.desc())
    if limit is not None:
        q = q.limit(limit)
    return [_rollout(r) for r in s.scalars(q).all()]


def _parse_report(_site: str, body: str) -> StatusReport:
    return StatusReport.model_validate_json(body)


class Transaction:
    """The reads and writes of one transaction; get one from :meth:`Store.transaction`."""

    def __init__(self, session: Session, parse: Callable[[str, str], StatusReport] | None = None) -> None:
        """``parse(site, report JSON)``: how reports are read (the store's, which parses a report
        once and keeps it while its text is unchanged)."""
        self._s = session
        self._fleet: FleetStateRow | None = None
        self._parse = parse or _parse_report

    # -- the published fleet state --------------------------------------------------------------

    def lock_fleet(self) -> PublishedFleet:
        """Read the fleet row and lock it until the end of the transaction."""
        self._fleet = row = lock_fleet_row(self._s)
        return PublishedFleet(row.revision, row.files, row.generation)

    def _locked(self) -> FleetStateRow:
        if self._fleet is None:
            self._fleet = lock_fleet_row(self._s)
        return self._fleet

    def publish(self, revision: str, files: bytes, now: datetime) -> None:
        """Make ``revision`` (with its packed files) the one every hub serves."""
        row = self._locked()
        row.revision, row.files, row.published_at = revision, files, now

    def desired_digests(self) -> dict[str, str]:
        """Every site's published desired-state digest."""
        return {r[0]: r[1] for r in self._s.execute(select(DesiredRow.site, DesiredRow.digest)).all()}

    def write_desired(self, changed: dict[str, tuple[str, str]], removed: list[str]) -> None:
        """Bump the generation, write the changed rows ``{site: (digest, apps JSON)}``, drop the
        removed sites' rows and tell every hub (PostgreSQL NOTIFY, sent at commit)."""
        fleet = self._locked()
        fleet.generation += 1
        if changed:  # one upsert for all of them: a new image digest may touch every site
            insert = pg_insert if self._s.get_bind().dialect.name == "postgresql" else sqlite_insert
            # Core, not the ORM's bulk insert: 0.1 s less at 10,000 sites
            table = cast(Table, DesiredRow.__table__)
            stmt = insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c.site],
                set_={
                    "digest": stmt.excluded.digest,
                    "apps": stmt.excluded.apps,
                    "generation": stmt.excluded.generation,
                },
            )
            self._s.connection().execute(
                stmt,
                [
                    {"site": site, "digest": digest, "apps": apps, "generation": fleet.generation}
                    for site, (digest, apps) in changed.items()
                ],
            )
        for site in removed:
            row = self._s.get(DesiredRow, site)
            if row is not None:
                self._s.delete(row)
        notify(self._s, fleet.generation)

    def desired_apps(self) -> dict[str, dict[str, DesiredApp]]:
        """Every site's published desired apps, by app name."""
        parsed: dict[str, dict[str, DesiredApp]] = {}  # sites mostly share their apps: parse once
        out: dict[str, dict[str, DesiredApp]] = {}
        for site, apps in self._s.execute(select(DesiredRow.site, DesiredRow.apps)).all():
            if apps not in parsed:
                parsed[apps] = {a["name"]: DesiredApp.model_validate(a) for a in orjson.loads(apps)}
            out[site] = parsed[apps]
        return out

    def reports_of(self, sites: set[str] | None = None) -> dict[str, tuple[datetime, StatusReport]]:
        """The last report (and when it came) of each of ``sites`` (default all) that has reported."""
        # columns, not row objects, and each report parsed only when its text changed: a publish
        # reads every site's report while it holds the fleet lock
        q = select(SiteReportRow.site, SiteReportRow.last_seen, SiteReportRow.report)
        if sites is not None:
            q = q.where(SiteReportRow.site.in_(sites))
        return {site: (utc(seen), self._parse(site, body)) for site, seen, body in self._s.execute(q).all()}

    # -- rollouts ------------------------------------------------------------------------------

    def rollouts(self, states: tuple[str, ...] | None = None, limit: int | None = None) -> list[Rollout]:
        """Rollouts (in ``states``, when given), newest first."""
        return read_rollouts(self._s, states, limit)

    def any_rollout_in(self, states: tuple[str, ...]) -> bool:
        q = select(RolloutRow.id).where(RolloutRow.state.in_(states)).limit(1)
        return self._s.scalars(q).first() is not None

    def add_rollout(self, r: Rollout) -> None:
        """Keep a new rollout; sets its ``id``."""
        row = RolloutRow()
        _fill(row, r)
        self._s.add(row)
        self._s.flush()
        r.id = row.id

    def save_rollout(self, r: Rollout) -> None:
        """Write back what the rules changed in a rollout read from this store."""
        row = self._s.get_one(RolloutRow, r.id)
        _fill(row, r)
        self._s.flush()

    # -- requests to sites (logs, diagnose) -----------------------------------------------------

    def queue_request(self, site: str, spec: RequestSpec, now: datetime, keep: int) -> int:
        """Queue a request for ``site``; the site's oldest beyond ``keep`` are forgotten."""
        row = SiteRequestRow(site=site, spec=spec.model_dump_json(), created_at=now)
        self._s.add(row)
        self._s.flush()
        old = self._s.scalars(
            select(SiteRequestRow.id)
            .where(SiteRequestRow.site == site)
            .order_by(SiteRequestRow.id.desc())
            .offset(keep)
        ).all()
        if old:
            self._s.execute(delete(SiteRequestRow).where(SiteRequestRow.id.in_(old)))
        return row.id

    def take_requests(self, site: str, now: datetime, limit: int = TAKEN_AT_ONCE) -> list[SiteRequest]:
        """The site's requests not handed out yet, oldest first, marked as taken."""
        rows = self._s.scalars(
            select(SiteRequestRow)
            .where(SiteRequestRow.site == site, SiteRequestRow.taken_at.is_(None))
            .order_by(SiteRequestRow.id)
            .limit(limit)
        ).all()
        for row in rows:
            row.taken_at = now
        return [SiteRequest(id=r.id, created=utc(r.created_at), **orjson.loads(r.spec)) for r in rows]

    def pending_requests(self, site: str) -> int:
        return len(
            self._s.scalars(
                select(SiteRequestRow.id).where(
                    SiteRequestRow.site == site, SiteRequestRow.taken_at.is_(None)
                )
            ).all()
        )

    def sites_with_pending_requests(self) -> set[str]:
        """The sites with a request not handed out yet (one look for every poll a hub holds)."""
        return set(
            self._s.scalars(
                select(SiteRequestRow.site).where(SiteRequestRow.taken_at.is_(None)).distinct()
            ).all()
        )

    def answered_requests(self, ids: list[int]) -> set[int]:
        """Those of ``ids`` that are answered."""
        if not ids:
            return set()
        return set(
            self._s.scalars(
                select(SiteRequestRow.id).where(
                    SiteRequestRow.id.in_(ids), SiteRequestRow.answered_at.is_not(None)
                )
            ).all()
        )

    def answer_request(self, site: str, request_id: int, answer: SiteAnswer, now: datetime) -> bool:
        """Record the site's answer; False when the site has no such request (or answered it)."""
        row = self._s.get(SiteRequestRow, request_id)
        if row is None or row.site != site or row.answered_at is not None:
            return False
        row.answer, row.answered_at = answer.model_dump_json(), now
        row.taken_at = row.taken_at or now
        return True

    def request(self, site: str, request_id: int) -> RequestView | None:
        row = self._s.get(SiteRequestRow, request_id)
        if row is None or row.site != site:
            return None
        state = (
            RequestState.ANSWERED
            if row.answered_at is not None
            else RequestState.TAKEN
            if row.taken_at is not None
            else RequestState.PENDING
        )
        return RequestView(
            id=row.id,
            site=row.site,
            spec=RequestSpec.model_validate_json(row.spec),
            state=state,
            created=utc(row.created_at),
            answered=utc(row.answered_at) if row.answered_at else None,
            answer=SiteAnswer.model_validate_json(row.answer) if row.answer else None,
        )
