"""The hub's compact metrics history: one row per site, app, model and minute (requests, errors,
latency histogram buckets and the p50/p99 read from them), with retention.

The reads and writes of the ``metric_minutes`` table. Turning remote-write series into minute
rows is :mod:`aiedge.hub.history`'s job. Every method blocks; async callers
go through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Engine, delete, select, tuple_
from sqlalchemy.orm import Session

from aiedge.hub.store.rows import MinuteRow


@dataclass(slots=True)
class Minute:
    """One site/app/model minute, as kept in memory while samples for it arrive."""

    site: str
    app: str
    model: str
    minute: int
    version: str = ""
    requests: float = 0.0
    errors: float = 0.0
    latency_sum: float = 0.0
    latency_count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)
    p50: float | None = None
    p99: float | None = None
    rejected: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.site, self.app, self.model, self.minute)


def _from_row(r: MinuteRow) -> Minute:
    buckets = {float(k): float(v) for k, v in orjson.loads(r.buckets).items()}
    return Minute(
        r.site, r.app, r.model, r.minute, r.version, r.requests, r.errors,
        r.latency_sum, r.latency_count, buckets, r.p50, r.p99, r.rejected or 0.0,
    )  # fmt: skip


class MetricsStore:
    """Reads and writes of the ``metric_minutes`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def load(self, keys: Iterable[tuple[str, str, str, int]]) -> dict[tuple[str, str, str, int], Minute]:
        keys = list(keys)
        if not keys:
            return {}
        cols = tuple_(MinuteRow.site, MinuteRow.app, MinuteRow.model, MinuteRow.minute)
        with Session(self.engine) as s:
            rows = s.scalars(select(MinuteRow).where(cols.in_(keys))).all()
            return {(r.site, r.app, r.model, r.minute): _from_row(r) for r in rows}

    def save(self, minutes: Iterable[Minute]) -> None:
        with Session(self.engine) as s, s.begin():
            for m in minutes:
                s.merge(
                    MinuteRow(
                        site=m.site,
                        app=m.app,
                        model=m.model,
                        minute=m.minute,
                        version=m.version,
                        requests=m.requests,
                        errors=m.errors,
                        latency_sum=m.latency_sum,
                        latency_count=m.latency_count,
                        buckets=orjson.dumps({repr(k): v for k, v in m.buckets.items()}).decode(),
                        p50=m.p50,
                        p99=m.p99,
                        rejected=m.rejected,
                    )
                )

    def query(self, since_minute: int, site: str | None = None, app: str | None = None) -> list[Minute]:
        """Minutes at or after ``since_minute``, oldest first, for one site and/or app."""
        q = select(MinuteRow).where(MinuteRow.minute >= since_minute)
        if site is not None:
            q = q.where(MinuteRow.site == site)
        if app is not None:
            q = q.where(MinuteRow.app == app)
        with Session(self.engine) as s:
            return [_from_row(r) for r in s.scalars(q.order_by(MinuteRow.minute)).all()]

    def delete_before(self, minute: int) -> int:
        """Retention: drop minutes older than ``minute``; how many rows went."""
        with Session(self.engine) as s, s.begin():
            done = s.execute(delete(MinuteRow).where(MinuteRow.minute < minute))
            return int(done.rowcount)  # type: ignore[attr-defined]
