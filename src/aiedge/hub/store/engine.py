"""Opening the hub's database: SQLite by default, PostgreSQL through psycopg 3 for several hub
processes; the schema is created on open."""

from __future__ import annotations

from sqlalchemy import Connection, Engine, create_engine, event, insert, inspect, make_url, select, text
from sqlalchemy.orm import Session

from aiedge.extras import install_hint
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
    if not driver.startswith("sqlite"):
        try:
            import psycopg  # noqa: F401 - only whether it is there
        except ModuleNotFoundError as e:
            raise HubConfigError(f"--db {url!r}: PostgreSQL needs psycopg: {install_hint(e)}") from None


def engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 (SQLAlchemy's default driver would be psycopg2)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def is_postgres(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "postgresql"


def _add_new_columns(conn: Connection) -> None:
    """Columns added to a table after a database was created get added to it (all nullable), so
    a hub upgraded in place opens its old database."""
    have = inspect(conn)
    for table in Base.metadata.sorted_tables:
        known = {c["name"] for c in have.get_columns(table.name)}
        for col in table.columns:
            if col.name not in known:
                kind = col.type.compile(dialect=conn.dialect)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {kind}'))


def open_engine(url: str) -> Engine:
    """An engine with the schema created; SQLite gets WAL and a busy timeout so the CLI
    (``aiedge hub token create``) can write while the hub runs. On PostgreSQL the schema is
    created under an advisory lock, so hubs starting together don't race."""
    if not url.startswith("sqlite"):
        engine = create_engine(engine_url(url), pool_size=10, max_overflow=20, pool_pre_ping=True)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(7140001)"))
            Base.metadata.create_all(conn)
            _add_new_columns(conn)
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

    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        _add_new_columns(conn)
    with Session(engine) as s, s.begin():
        if s.get(FleetStateRow, 1) is None:
            s.add(FleetStateRow(id=1, generation=0))
    return engine
