"""The hub's tables as SQLAlchemy rows. Private to :mod:`aiedge.hub.store`: everything else reads
and writes them through :class:`~aiedge.hub.store.Store` and its transactions, as plain data."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Boolean, DateTime, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def utc(t: datetime) -> datetime:
    """SQLite hands back naive datetimes: they were written in UTC."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


class SiteReportRow(Base):
    __tablename__ = "site_reports"
    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    report: Mapped[str] = mapped_column(Text)


class JoinTokenRow(Base):
    __tablename__ = "join_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class CredentialRow(Base):
    __tablename__ = "site_credentials"
    credential_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FleetStateRow(Base):
    """One row (id 1): the revision all hubs serve, its YAML files, and the generation that
    numbers every change of the published desired states."""

    __tablename__ = "fleet_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[str | None] = mapped_column(String(300), nullable=True)
    files: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class DesiredRow(Base):
    """A site's desired apps (JSON list of DesiredApp, revision-free) and their digest."""

    __tablename__ = "desired_states"
    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    digest: Mapped[str] = mapped_column(String(80))
    apps: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer, index=True)


class RolloutRow(Base):
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
    progress: Mapped[str] = mapped_column(Text)  # JSON {site: {"state", "since", "message", "reached"}}
    state: Mapped[str] = mapped_column(String(20), index=True)
    wave: Mapped[int] = mapped_column(Integer)  # index of the wave under way
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # added later (nullable: rows from before read as their defaults)
    attempt: Mapped[str | None] = mapped_column(String(80), nullable=True)
    from_apps: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON {site: DesiredApp | null}
    paused: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


class MinuteRow(Base):
    __tablename__ = "metric_minutes"
    site: Mapped[str] = mapped_column(String(253), primary_key=True)
    app: Mapped[str] = mapped_column(String(253), primary_key=True)
    model: Mapped[str] = mapped_column(String(253), primary_key=True)
    minute: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    """Minutes since the epoch (UTC)."""
    version: Mapped[str] = mapped_column(String(80), default="")
    requests: Mapped[float] = mapped_column(Float, default=0.0)
    errors: Mapped[float] = mapped_column(Float, default=0.0)
    latency_sum: Mapped[float] = mapped_column(Float, default=0.0)
    latency_count: Mapped[float] = mapped_column(Float, default=0.0)
    buckets: Mapped[str] = mapped_column(Text, default="{}")
    """JSON ``{le: count}`` of the request-duration histogram's increase in this minute."""
    p50: Mapped[float | None] = mapped_column(Float, nullable=True)
    p99: Mapped[float | None] = mapped_column(Float, nullable=True)
    rejected: Mapped[float | None] = mapped_column(Float, nullable=True)  # added later
    """Requests refused as the client's mistake (4xx); ``errors`` are the server's (5xx)."""


class OperatorTokenRow(Base):
    """An operator's API token (``aiedge hub operator create``), kept as its SHA-256 hash."""

    __tablename__ = "operator_tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), index=True)
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SiteRequestRow(Base):
    """An operator's request to a site (logs, diagnose), answered over the site's own link."""

    __tablename__ = "site_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(253), index=True)
    spec: Mapped[str] = mapped_column(Text)  # RequestSpec JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    taken_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)  # SiteAnswer JSON
