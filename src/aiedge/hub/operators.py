"""Operators and their API tokens: ``aiedge hub operator create NAME --role read|admin`` makes a
token, printed once and kept as its SHA-256 hash; ``aiedge hub operator revoke NAME`` ends every
token of NAME on every hub within a second. A ``read`` token reads the fleet (sites, apps,
metrics, alerts, rollouts); an ``admin`` token also steers it (rollout commands and every other
call that changes something). Neither acts for a site, and a site's credential is no operator's.

Which route needs which role is :mod:`aiedge.hub.api.auth`'s table; this module knows tokens."""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime

from aiedge.hub.enrolment import CREDENTIAL_PREFIX, hash_secret
from aiedge.hub.errors import BadOperator, Forbidden, NotAuthenticated
from aiedge.hub.store import OperatorToken, Store

TOKEN_PREFIX = "aiedge-operator-"  # noqa: S105 - a prefix, not a secret
READ, ADMIN = "read", "admin"
ROLES = (READ, ADMIN)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,62}$")


def create_operator_token(store: Store, name: str, role: str, now: datetime) -> str:
    """A new token for operator ``name`` with ``role``; only its hash is kept."""
    if not _NAME.match(name):
        raise BadOperator(
            f"operator name {name[:80]!r}: want 1-63 letters, digits and . _ @ + - (e.g. alice@example.com)"
        )
    if role not in ROLES:
        raise BadOperator(f"role {role!r}: want one of {', '.join(ROLES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.operators.add(hash_secret(token), name, role, now)
    return token


async def operator_of(store: Store, token: str | None) -> OperatorToken:
    """The live operator token ``token`` is; :class:`NotAuthenticated` or :class:`Forbidden`
    (a site's credential) otherwise. No query (nor thread) for a token checked since the last
    fleet generation."""
    if not token:
        raise NotAuthenticated(
            "missing operator token: send Authorization: Bearer <token> "
            "(aiedge hub operator create NAME --role read|admin) or log in at /login"
        )
    if token.startswith(CREDENTIAL_PREFIX):
        raise Forbidden("a site's credential cannot use the operator API: use an operator token")
    digest = hash_secret(token)
    found = store.operators.cached(digest)
    if found is None:
        found = await asyncio.to_thread(store.operators.of, digest)
    if found is None:
        raise NotAuthenticated("unknown or revoked operator token")
    return found


def require(operator: OperatorToken, role: str) -> None:
    """``operator`` may do what needs ``role`` (admin may do everything read may)."""
    if role == ADMIN and operator.role != ADMIN:
        raise Forbidden(f"operator {operator.name!r} has role {operator.role}: this needs an admin token")
