"""Site enrolment and credentials: one-time join tokens (made by ``aiedge hub token create``)
traded at ``POST /api/v1/enroll`` for a per-site credential; both are stored as SHA-256 hashes.
The request and response bodies are :mod:`aiedge.contracts`' ``EnrollRequest``/``EnrollResponse``."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

from aiedge.contracts import EnrollRequest, EnrollResponse
from aiedge.gitops import GitopsRepo
from aiedge.hub.errors import EnrolmentRefused, Forbidden, NotAuthenticated, UnknownSiteName
from aiedge.hub.store import Store

TOKEN_PREFIX = "aiedge-join-"  # noqa: S105 - a prefix, not a secret
CREDENTIAL_PREFIX = "aiedge-site-"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_defined(repo: GitopsRepo | None, site: str) -> None:
    """A join token is only made for a site the GitOps repo defines (``repo``: the revision the
    hub serves, or the repo itself before the hub published one)."""
    if repo is None:
        raise UnknownSiteName(
            f"cannot check that site {site!r} exists: the hub has published no revision yet "
            "(start it first, or pass --gitops DIR)"
        )
    if site not in repo.sites:
        known = ", ".join(sorted(repo.sites)[:10]) or "none"
        raise UnknownSiteName(
            f"site {site!r} is not defined in the GitOps repo at {repo.revision} (sites: {known})"
        )


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


def credential_hash(authorization: str | None) -> str:
    """The hash of the credential in an ``Authorization: Bearer`` header."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise NotAuthenticated("missing credential: send Authorization: Bearer <site credential>")
    return hash_secret(authorization[7:].strip())


def check_owner(owner: str | None, site: str) -> None:
    """``owner`` (the credential's site, None if unknown or revoked) may act for ``site``."""
    if owner is None:
        raise NotAuthenticated("unknown or revoked credential: enrol the site again")
    if owner != site:
        raise Forbidden(f"this credential belongs to site {owner!r}, not {site!r}")


async def credential_owner(store: Store, authorization: str | None) -> str:
    """The site an ``Authorization`` header's credential belongs to; no query (nor thread) for a
    credential already checked since the last fleet generation, as a site's every request is."""
    digest = credential_hash(authorization)
    owner = store.cached_site_of_credential(digest)
    if owner is None:
        owner = await asyncio.to_thread(store.site_of_credential, digest)
    if owner is None:
        raise NotAuthenticated("unknown or revoked credential: enrol the site again")
    return owner
