"""Site enrolment and credentials: one-time join tokens (made by ``aiedge hub token create``)
traded at ``POST /api/v1/enroll`` for a per-site credential; both are stored as SHA-256 hashes.

The request and response bodies are defined here until they move to :mod:`aiedge.contracts`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from aiedge.contracts import EnrollRequest, EnrollResponse
from aiedge.hub.errors import EnrolmentRefused, Forbidden, NotAuthenticated
from aiedge.hub.store import Store

TOKEN_PREFIX = "aiedge-join-"  # noqa: S105 - a prefix, not a secret
CREDENTIAL_PREFIX = "aiedge-site-"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_join_token(store: Store, site: str, now: datetime, ttl_seconds: float) -> str:
    """A new one-time token for ``site``; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    store.add_join_token(hash_secret(token), site, now, now + timedelta(seconds=ttl_seconds))
    return token


def enroll(store: Store, request: EnrollRequest, now: datetime) -> EnrollResponse:
    """Trade a join token for a credential (the token is then spent)."""
    credential = CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    site = store.use_join_token(hash_secret(request.token), now, hash_secret(credential), request.site)
    if site is None:
        raise EnrolmentRefused(
            "join token refused: unknown, already used, expired, revoked"
            + (f" or not for site {request.site!r}" if request.site else "")
        )
    return EnrollResponse(site=site, credential=credential)


def authorize(store: Store, authorization: str | None, site: str) -> None:
    """Check an ``Authorization`` header against ``site``."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise NotAuthenticated("missing credential: send Authorization: Bearer <site credential>")
    owner = store.site_of_credential(hash_secret(authorization[7:].strip()))
    if owner is None:
        raise NotAuthenticated("unknown or revoked credential: enrol the site again")
    if owner != site:
        raise Forbidden(f"this credential belongs to site {owner!r}, not {site!r}")
