"""The hub's durable state through SQLAlchemy 2 (SQLite by default, any SQLAlchemy database
later): the last report per site, join tokens and site credentials (both stored hashed).

Every method is blocking; async callers go through ``asyncio.to_thread``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Engine, String, Text, create_engine, event, select, update
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


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def open_engine(url: str) -> Engine:
    """An engine with the schema created; SQLite gets WAL and a busy timeout so the CLI
    (``aiedge hub token create``) can write while the hub runs."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False} if sqlite else {})
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(conn: object, _record: object) -> None:
            cur = conn.cursor()  # type: ignore[attr-defined]
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    _Base.metadata.create_all(engine)
    return engine


class Store:
    """Reads and writes of the hub's tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save_report(self, report: StatusReport, seen: datetime) -> None:
        with Session(self.engine) as s, s.begin():
            s.merge(SiteReportRow(site=report.site, last_seen=seen, report=report.model_dump_json()))

    def reports(self) -> dict[str, tuple[datetime, StatusReport]]:
        with Session(self.engine) as s:
            rows = s.scalars(select(SiteReportRow)).all()
            return {r.site: (_utc(r.last_seen), StatusReport.model_validate_json(r.report)) for r in rows}

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

    def site_of_credential(self, credential_hash: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(CredentialRow, credential_hash)
            return None if row is None or row.revoked_at is not None else row.site

    def revoke_site(self, site: str, now: datetime) -> int:
        """Revoke every credential of ``site`` and expire its unused join tokens; how many
        credentials were revoked."""
        with Session(self.engine) as s, s.begin():
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
