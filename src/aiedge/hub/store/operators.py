"""The ``operator_tokens`` table: operators' API tokens (hashed), their role, revocation. Checked
tokens are remembered in memory until a revocation is seen: a revocation moves the fleet
generation, and at a new generation the store counts the revoked tokens and credentials, so every
hub forgets a revoked token within a second (as site credentials)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from aiedge.hub.store.rows import OperatorTokenRow, utc
from aiedge.hub.store.transaction import bump_generation


@dataclass(frozen=True, slots=True)
class OperatorToken:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None


class Operators:
    """Reads and writes of the ``operator_tokens`` table; every method blocks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._checked: dict[str, OperatorToken] = {}

    def add(self, token_hash: str, name: str, role: str, now: datetime) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(OperatorTokenRow(token_hash=token_hash, name=name, role=role, created_at=now))

    def cached(self, token_hash: str) -> OperatorToken | None:
        """A token this process has checked since the last revocation it saw; no query."""
        return self._checked.get(token_hash)

    def of(self, token_hash: str) -> OperatorToken | None:
        """The live (not revoked) token with this hash, or None."""
        checked = self._checked  # a revocation seen meanwhile replaces it: this read is not kept
        with Session(self.engine) as s:
            row = s.get(OperatorTokenRow, token_hash)
            if row is None or row.revoked_at is not None:
                return None
            found = OperatorToken(row.name, row.role, utc(row.created_at))
        checked[token_hash] = found
        return found

    def forget(self) -> None:
        self._checked = {}

    @staticmethod
    def revoked(s: Session) -> int:
        """How many tokens were ever revoked (never fewer than before: none is deleted)."""
        return s.scalar(select(func.count()).where(OperatorTokenRow.revoked_at.is_not(None))) or 0

    def all(self) -> list[OperatorToken]:
        with Session(self.engine) as s:
            rows = s.scalars(select(OperatorTokenRow).order_by(OperatorTokenRow.created_at)).all()
            return [
                OperatorToken(r.name, r.role, utc(r.created_at), utc(r.revoked_at) if r.revoked_at else None)
                for r in rows
            ]

    def revoke(self, name: str, now: datetime) -> int:
        """Revoke every live token of ``name``; how many. Bumps the fleet generation (and NOTIFYs
        on PostgreSQL) so that every hub forgets them at its next sync."""
        with Session(self.engine) as s, s.begin():
            bump_generation(s)
            done = s.execute(
                update(OperatorTokenRow)
                .where(OperatorTokenRow.name == name, OperatorTokenRow.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]
