"""The hub's durable state through SQLAlchemy 2 (SQLite by default, PostgreSQL through psycopg 3
for several hub processes): the last report per site, join tokens and site credentials (both
stored hashed), and the published fleet state every hub serves from: the current good revision
(with its files) and each site's rendered desired apps, numbered by a generation.

Every method is blocking; async callers go through ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aiedge.contracts import StatusReport


class _Base(DeclarativeBase):
    pass


class SiteReportRow(_Base):
    __tablename__ = "site_reports"
    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report: Mapped[str] = mapped_column(Text)


class JoinTokenRow(_Base):
    __tablename__ = "join_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CredentialRow(_Base):
    __tablename__ = "site_credentials"
    credential_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FleetStateRow(_Base):
    """One row (id 1): the revision all hubs serve, its YAML files, and the generation that
    numbers every change of the published desired states."""

    __tablename__ = "fleet_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[str | None] = mapped_column(String(300), nullable=True)
    files: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class DesiredRow(_Base):
    """A site's desired apps (JSON list of DesiredApp, revision-free) and their digest."""

    __tablename__ = "desired_states"
    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80))
    apps: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer, index=True)


NOTIFY_CHANNEL = "aiedge_fleet"


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (SQLAlchemy's default driver would be psycopg2)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def open_engine(url: str) -> Engine:
    """An engine with the schema created; SQLite gets WAL and a busy timeout so the CLI
    (``aiedge hub token create``) can write while the hub runs. On PostgreSQL the schema is
    created under an advisory lock, so hubs starting together don't race."""
    sqlite = url.startswith("sqlite")
    if sqlite:
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    else:
        engine = create_engine(engine_url(url), pool_size=10, max_overflow=20, pool_pre_ping=True)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7140001)"))
            _Base.metadata.create_all(conn)
            if conn.execute(select(FleetStateRow.id)).first() is None:
                conn.execute(insert(FleetStateRow).values(id=1, generation=0))
        return engine
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cur = conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    _Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        if s.get(FleetStateRow, 1) is None:
            s.add(FleetStateRow(id=1, generation=0))
    return engine


class Store:
    """Reads and writes of the hub's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # each site's last report as read, parsed once: reports() reads all rows but parses only
        # the ones whose text changed (thousands of sites, most unchanged between two reads)
        self._parsed: dict[str, tuple[str, StatusReport]] = {}
        self._parsed_lock = threading.Lock()
        # credential hash -> site, of credentials checked since the last generation change
        self._credentials: dict[str, str] = {}
        self._credentials_generation = -1
        # built once: a statement built per write leaves its columns and aliases as garbage cycles
        insert_ = pg_insert if is_postgres(engine) else sqlite_insert
        upsert = insert_(SiteReportRow)
        self._report_upsert = upsert.on_conflict_do_update(
            index_elements=[SiteReportRow.site],
            set_={"last_seen": upsert.excluded.last_seen, "report": upsert.excluded.report},
        )

    def save_report(self, report: StatusReport, seen: datetime) -> None:
        self.save_reports([(report.site, seen, report.model_dump_json())])

    def save_reports(self, rows: list[tuple[str, datetime, str]]) -> None:
        """Upsert many sites' last reports (site, seen, report JSON) in one transaction."""
        if not rows:
            return
        values = [{"site": site, "last_seen": seen, "report": body} for site, seen, body in rows]
        with self.engine.begin() as conn:
            conn.execute(self._report_upsert, values)

    def _parse(self, site: str, body: str) -> StatusReport:
        with self._parsed_lock:
            hit = self._parsed.get(site)
        if hit is not None and hit[0] == body:
            return hit[1]
        report = StatusReport.model_validate_json(body)
        with self._parsed_lock:
            self._parsed[site] = (body, report)
        return report

    def reports(self) -> dict[str, tuple[datetime, StatusReport]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SiteReportRow.site, SiteReportRow.last_seen, SiteReportRow.report)
            ).all()
        found = {site: (_utc(seen), self._parse(site, body)) for site, seen, body in rows}
        with self._parsed_lock:
            for gone in self._parsed.keys() - found.keys():
                del self._parsed[gone]
        return found

    def report(self, site: str) -> tuple[datetime, StatusReport] | None:
        with Session(self.engine) as s:
            r = s.get(SiteReportRow, site)
            return None if r is None else (_utc(r.last_seen), StatusReport.model_validate_json(r.report))

    def add_join_token(self, token_hash: str, site: str, now: datetime, expires: datetime) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(JoinTokenRow(token_hash=token_hash, site=site, created_at=now, expires_at=expires))

    def use_join_token(
        self, token_hash: str, now: datetime, credential_hash: str, site: str | None = None
    ) -> str | None:
        """Mark the token used and record a credential for its site, in one transaction; the
        site's name, or None when the token is unknown, used, expired or (given ``site``) for
        another site."""
        with Session(self.engine) as s, s.begin():
            match = [
                JoinTokenRow.token_hash == token_hash,
                JoinTokenRow.used_at.is_(None),
                JoinTokenRow.expires_at > now,
            ]
            if site is not None:
                match.append(JoinTokenRow.site == site)
            done = s.execute(update(JoinTokenRow).where(*match).values(used_at=now))
            if done.rowcount != 1:  # type: ignore[attr-defined]
                return None
            site = s.scalars(select(JoinTokenRow.site).where(JoinTokenRow.token_hash == token_hash)).one()
            s.add(CredentialRow(credential_hash=credential_hash, site=site, created_at=now))
            return site

    def cached_site_of_credential(self, credential_hash: str) -> str | None:
        """The site of a credential this process has already checked, without a query; None
        when not known here (ask :meth:`site_of_credential`). Forgotten whenever the fleet
        generation moves, which every revocation does."""
        return self._credentials.get(credential_hash)

    def site_of_credential(self, credential_hash: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(CredentialRow, credential_hash)
            site = None if row is None or row.revoked_at is not None else row.site
        if site is not None:
            self._credentials[credential_hash] = site
        return site

    def revoke_site(self, site: str, now: datetime) -> int:
        """Revoke every credential of ``site`` and expire its unused join tokens; how many
        credentials were revoked. Bumps the fleet generation (and NOTIFYs on PostgreSQL) so that
        every hub drops the credentials it had checked at its next sync, within a second."""
        with Session(self.engine) as s, s.begin():
            fleet = Store.lock_fleet(s)
            fleet.generation += 1
            if is_postgres(self.engine):
                s.execute(text("SELECT pg_notify(:c, :g)"), {"c": NOTIFY_CHANNEL, "g": str(fleet.generation)})
            done = s.execute(
                update(CredentialRow)
                .where(CredentialRow.site == site, CredentialRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            s.execute(
                update(JoinTokenRow)
                .where(JoinTokenRow.site == site, JoinTokenRow.used_at.is_(None))
                .values(expires_at=now)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

    # -- the published fleet state (see aiedge.hub.fleet) -------------------------------------

    def fleet_state(self) -> tuple[str | None, int]:
        """The published revision and generation (a new generation also empties the cache of
        checked credentials: it may be a revocation)."""
        with Session(self.engine) as s:
            row = s.get_one(FleetStateRow, 1)
            revision, generation = row.revision, row.generation
        if generation != self._credentials_generation:
            self._credentials = {}
            self._credentials_generation = generation
        return revision, generation

    def fleet_files(self) -> tuple[str | None, bytes | None, int]:
        with Session(self.engine) as s:
            row = s.get_one(FleetStateRow, 1)
            return row.revision, row.files, row.generation

    def desired_since(self, generation: int) -> list[tuple[str, str, str]]:
        """``(site, digest, apps JSON)`` of every row changed after ``generation``."""
        with Session(self.engine) as s:
            rows = s.execute(
                select(DesiredRow.site, DesiredRow.digest, DesiredRow.apps).where(
                    DesiredRow.generation > generation
                )
            ).all()
            return [(r[0], r[1], r[2]) for r in rows]

    @staticmethod
    def lock_fleet(s: Session) -> FleetStateRow:
        """The fleet row, locked for the transaction (PostgreSQL: every publisher queues here)."""
        return s.scalars(select(FleetStateRow).where(FleetStateRow.id == 1).with_for_update()).one()

    @staticmethod
    def desired_digests(s: Session) -> dict[str, str]:
        return {r[0]: r[1] for r in s.execute(select(DesiredRow.site, DesiredRow.digest)).all()}

    @staticmethod
    def write_desired(
        s: Session, fleet: FleetStateRow, changed: dict[str, tuple[str, str]], removed: list[str]
    ) -> None:
        """Bump the generation, write the changed rows ``{site: (digest, apps JSON)}`` and tell
        every hub (PostgreSQL NOTIFY, sent at commit)."""
        fleet.generation += 1
        if changed:  # one upsert for all of them: a new image digest may touch every site
            stmt = (pg_insert if is_postgres(s.get_bind()) else sqlite_insert)(DesiredRow)
            stmt = stmt.on_conflict_do_update(
                index_elements=[DesiredRow.site],
                set_={
                    "digest": stmt.excluded.digest,
                    "apps": stmt.excluded.apps,
                    "generation": stmt.excluded.generation,
                },
            )
            s.execute(
                stmt,
                [
                    {"site": site, "digest": digest, "apps": apps, "generation": fleet.generation}
                    for site, (digest, apps) in changed.items()
                ],
            )
        for site in removed:
            row = s.get(DesiredRow, site)
            if row is not None:
                s.delete(row)
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_notify(:c, :g)"), {"c": NOTIFY_CHANNEL, "g": str(fleet.generation)})
