"""Cross-process wake-ups for hubs sharing one PostgreSQL database: a LISTEN on the fleet channel
(the publisher's NOTIFY is sent in the transaction that changed the published desired states, see
:meth:`aiedge.hub.store.Transaction.write_desired`); each notification asks the fleet to sync, which
wakes the long polls this process holds. On SQLite (one hub) nothing listens: the fleet's own
periodic sync is enough.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import make_url

from aiedge.hub.store import NOTIFY_CHANNEL

log = logging.getLogger("aiedge.hub")


def conninfo(url: str) -> str:
    """A libpq URI from the SQLAlchemy URL (driver suffix dropped)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Listener:
    """LISTENs until cancelled, reconnecting after errors; calls ``on_change`` for each
    notification and once after every (re)connect, so nothing sent while away is missed."""

    def __init__(self, url: str, on_change: Callable[[], None], retry: float = 1.0) -> None:
        self._conninfo = conninfo(url)
        self._on_change = on_change
        self._retry = retry
        self.connected = asyncio.Event()

    async def run(self) -> None:
        # imported here: psycopg is the postgres extra, and a hub on SQLite never listens
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.connected.set()
                    self._on_change()
                    async for _note in conn.notifies():
                        self._on_change()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database restarting, a network blip: listen again
                self.connected.clear()
                log.warning("fleet listener: %s; reconnecting in %.0fs", e, self._retry)
            await asyncio.sleep(self._retry)
