"""Fixtures for the hub tests: a real PostgreSQL server, one per session, with a fresh database
per test that asks for one (the GitOps repo and real `aiedge hub` processes come from the root
conftest's ``repo`` and ``start_hub``)."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aiedge.hub.store import Store, open_engine
from tests.hub.helpers import FakeAgent
from tests.support import free_port

PG_BIN = Path(os.environ.get("AIEDGE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
_databases = itertools.count()


def _as_postgres(*cmd: str) -> list[str]:
    """initdb and pg_ctl refuse root: run them as the postgres user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """A real PostgreSQL 15 on a free loopback port, as ``postgresql://aiedge@127.0.0.1:PORT``;
    stopped by its postmaster's PID at the end of the session."""
    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            f"PostgreSQL binaries not found in {PG_BIN}: install postgresql-15 (apt-get install "
            "postgresql-15) or point AIEDGE_TEST_PG_BIN at its bin folder",
            pytrace=False,
        )
    root = Path(tempfile.mkdtemp(prefix="aiedge-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = free_port()
    subprocess.run(
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "aiedge", "--no-sync"),
        check=True,
        capture_output=True,
    )
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "pg.log"), "-w", "start"
        ),
        check=True,
        capture_output=True,
    )
    pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
    try:
        yield f"postgresql://aiedge@127.0.0.1:{port}"
    finally:
        os.kill(pid, signal.SIGINT)  # fast shutdown
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: str) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    name = f"t{os.getpid()}_{next(_databases)}"
    with psycopg.connect(f"{postgres}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{postgres}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def hub_db(request: pytest.FixtureRequest) -> str:
    """Each test that takes it runs twice: on the default SQLite and on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return "sqlite"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(tmp_path: Path, hub_db: str) -> Iterator[Store]:
    """The hub's store over ``hub_db``: SQLite at ``tmp_path/hub.db``, or a fresh PostgreSQL database."""
    url = f"sqlite:///{tmp_path / 'hub.db'}" if hub_db == "sqlite" else hub_db
    s = Store(open_engine(url))
    yield s
    s.close()


@pytest.fixture
def agents() -> Iterator[Callable[..., FakeAgent]]:
    """Fake agents (threads speaking the real wire contract to a real hub), stopped at the end."""
    made: list[FakeAgent] = []

    def make(hub: str, site: str, broken: set[str] | None = None, **kw: Any) -> FakeAgent:
        made.append(FakeAgent(hub, site, broken or set(), **kw))
        return made[-1]

    yield make
    for a in made:
        a.stop()
