"""Opening the hub's database: SQLite by default, PostgreSQL through psycopg 3 for several hub
processes; the schema is created on open."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, event, insert, make_url, select, text
from sqlalchemy.orm import Session

from aiedge.hub.errors import HubConfigError
from aiedge.hub.store.rows import Base, FleetStateRow

NOTIFY_CHANNEL = "aiedge_fleet"


_DRIVERS = ("sqlite", "postgresql", "postgres", "postgresql+psycopg")


def check_url(url: str) -> None:
    """Refuse, in one line, a database URL the hub cannot open (before anything starts)."""
    try:
        driver = make_url(url).drivername
    except Exception:  # SQLAlchemy's ArgumentError for text that is no URL at all
        raise HubConfigError(f"--db {url!r}: not a database URL") from None
    if driver not in _DRIVERS:
        raise HubConfigError(
            f"--db {url!r}: {driver} is not supported; use sqlite:///FILE or postgresql://USER@HOST:PORT/DB"
        )


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
    if not url.startswith("sqlite"):
        engine = create_engine(engine_url(url), pool_size=10, max_overflow=20, pool_pre_ping=True)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7140001)"))
            Base.metadata.create_all(conn)
            if conn.execute(select(FleetStateRow.id)).first() is None:
                conn.execute(insert(FleetStateRow).values(id=1, generation=0))
        return engine
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(conn: object, _record: object) -> None:
        cur = conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    Base.metadata.create_all(engine)
    with Session(engine) as s, s.begin():
        if s.get(FleetStateRow, 1) is None:
            s.add(FleetStateRow(id=1, generation=0))
    return engine
