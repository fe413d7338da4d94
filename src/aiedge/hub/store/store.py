"""The one owner of the hub's tables: the last report per site, join tokens and site credentials
(both stored hashed), the published fleet state every hub serves from (the current good revision
with its files, each site's rendered desired apps, numbered by a generation), the rollouts,
the per-minute metrics (:attr:`Store.metrics`) and operators' tokens (:attr:`Store.operators`).

Every method is blocking; async callers go through ``asyncio.to_thread``. Several steps that must
agree go inside one ``with store.transaction() as tx:``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from aiedge.contracts import StatusReport
from aiedge.hub.rollouts.model import Rollout
from aiedge.hub.store.engine import is_postgres
from aiedge.hub.store.metrics import MetricsStore
from aiedge.hub.store.operators import Operators
from aiedge.hub.store.rows import (
    CredentialRow,
    DesiredRow,
    FleetStateRow,
    JoinTokenRow,
    SiteReportRow,
    utc,
)
from aiedge.hub.store.transaction import Transaction, bump_generation, read_rollouts


class Store:
    """Reads and writes of the hub's tables over one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.metrics = MetricsStore(engine)
        self.operators = Operators(engine)
        # each site's last report as read, parsed once: reports() reads all rows but parses only
        # the ones whose text changed (thousands of sites, most unchanged between two reads)
        self._parsed: dict[str, tuple[str, StatusReport]] = {}
        self._parsed_lock = threading.Lock()
        # credential hash -> site: every live credential, read in one query at the first read of
        # the fleet state and again after each revocation (of a site's credential or an operator's
        # token) this process sees, plus those enrolled or checked here since
        self._credentials: dict[str, str] = {}
        self._credentials_generation = -1
        self._revocations = -1
        # built once: a statement built per write leaves its columns and aliases as garbage cycles
        insert_ = pg_insert if is_postgres(engine) else sqlite_insert
        upsert = insert_(SiteReportRow)
        self._report_upsert = upsert.on_conflict_do_update(
            index_elements=[SiteReportRow.site],
            set_={"last_seen": upsert.excluded.last_seen, "report": upsert.excluded.report},
        )
        self._touch = (
            update(SiteReportRow)
            .where(SiteReportRow.site == bindparam("s"), SiteReportRow.last_seen < bindparam("seen"))
            .values(last_seen=bindparam("seen"))
        )

    @property
    def postgres(self) -> bool:
        return is_postgres(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A unit of work: committed when the block ends, rolled back when it raises."""
        with Session(self.engine) as s, s.begin():
            yield Transaction(s, self._parse)

    # -- status reports ------------------------------------------------------------------------

    def save_report(self, report: StatusReport, seen: datetime) -> None:
        self.save_reports([(report.site, seen, report.model_dump_json())])

    def save_reports(self, rows: list[tuple[str, datetime, str]]) -> None:
        """Upsert many sites' last reports (site, seen, report JSON) in one transaction."""
        if not rows:
            return
        values = [{"site": site, "last_seen": seen, "report": body} for site, seen, body in rows]
        with self.engine.begin() as conn:
            conn.execute(self._report_upsert, values)

    def touch_reports(self, rows: list[tuple[str, datetime]]) -> None:
        """A sign of life from each site (its desired-state poll): moves ``last_seen`` forward, the
        report unchanged. A site that never reported has no row and is left alone."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._touch, [{"s": site, "seen": seen} for site, seen in rows])

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
        with self.transaction() as tx:
            found = tx.reports_of()
        with self._parsed_lock:
            for gone in self._parsed.keys() - found.keys():
                del self._parsed[gone]
        return found

    def report(self, site: str) -> tuple[datetime, StatusReport] | None:
        with Session(self.engine) as s:
            r = s.get(SiteReportRow, site)
            return None if r is None else (utc(r.last_seen), StatusReport.model_validate_json(r.report))

    # -- enrolment -----------------------------------------------------------------------------

    def add_join_token(self, token_hash: str, site: str, now: datetime, expires: datetime) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(JoinTokenRow(token_hash=token_hash, site=site, created_at=now, expires_at=expires))

    def use_join_token(
        self, token_hash: str, now: datetime, credential_hash: str, site: str | None = None
    ) -> str | None:
        """Mark the token used and record a credential for its site, in one transaction; the
        site's name, or None when the token is unknown, used, expired or (given ``site``) for
        another site."""
        # taken before the transaction: a revocation seen after it (even of this very site, just
        # enrolled) replaces the dict, and this credential then goes only into the old one
        checked = self._credentials
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
        checked[credential_hash] = site  # committed: the site's first poll needs no query
        return site

    def cached_site_of_credential(self, credential_hash: str) -> str | None:
        """The site of a live credential, without a query; None when not known here (enrolled at
        another hub since this one last read them all, or unknown: ask :meth:`site_of_credential`).
        All are read again whenever a revocation is seen (see :meth:`fleet_state`)."""
        return self._credentials.get(credential_hash)

    def site_of_credential(self, credential_hash: str) -> str | None:
        checked = self._credentials  # a revocation seen meanwhile replaces it: this read is not kept
        with Session(self.engine) as s:
            row = s.get(CredentialRow, credential_hash)
            site = None if row is None or row.revoked_at is not None else row.site
        if site is not None:
            checked[credential_hash] = site
        return site

    def enrolled(self, site: str) -> bool:
        """Whether ``site`` was ever given a join token or a credential here."""
        with Session(self.engine) as s:
            token = s.scalars(
                select(JoinTokenRow.token_hash).where(JoinTokenRow.site == site).limit(1)
            ).first()
            cred = s.scalars(select(CredentialRow.site).where(CredentialRow.site == site).limit(1)).first()
            return token is not None or cred is not None

    def revoke_site(self, site: str, now: datetime) -> int:
        """Revoke every credential of ``site`` and expire its unused join tokens; how many
        credentials were revoked. Bumps the fleet generation (and NOTIFYs on PostgreSQL) so that
        every hub drops the credentials it had checked at its next sync, within a second."""
        with Session(self.engine) as s, s.begin():
            bump_generation(s)
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
        """The published revision and generation.

        Every revocation moves the generation, and only a revocation adds to the count of revoked
        credentials and operator tokens (none is ever deleted or revoked twice). So when the
        generation moved, that count says whether the known credentials must be read again: a
        commit, a fact or a rollout step that moves it leaves them, and 10,000 sites polling
        again after a commit don't each cost a query. At the first call, and after a revocation,
        every live credential is read in one query (a 10,000-site fleet's first polls after a
        hub starts would otherwise be 10,000 queries, each on a thread). The generation is read
        first: a count and credentials read after it are at least as new (PostgreSQL reads each
        statement's own snapshot)."""
        with Session(self.engine) as s:
            row = s.get_one(FleetStateRow, 1)
            revision, generation = row.revision, row.generation
            if generation != self._credentials_generation:
                revoked = select(func.count()).where(CredentialRow.revoked_at.is_not(None))
                revocations = (s.scalar(revoked) or 0) + self.operators.revoked(s)
                if revocations != self._revocations:
                    live = select(CredentialRow.credential_hash, CredentialRow.site).where(
                        CredentialRow.revoked_at.is_(None)
                    )
                    self._credentials = {h: site for h, site in s.execute(live)}
                    self.operators.forget()
                    self._revocations = revocations
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

    # -- rollouts ------------------------------------------------------------------------------

    def recent_rollouts(self, limit: int = 100) -> list[Rollout]:
        """The newest rollouts, newest first."""
        with Session(self.engine) as s:
            return read_rollouts(s, limit=limit)
