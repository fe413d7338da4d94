"""Registry authentication: answering ``401`` challenges with Basic credentials or Bearer tokens.

The token flow is the distribution spec's: ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``
-> ``GET realm?service=&scope=`` (with Basic credentials when we have them) -> ``{"token": ...}``.
Tokens are kept per scope for the life of the client; nothing is written to disk.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import httpx

from aiedge.oci.errors import AuthError

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


class RegistryAuth:
    """The Authorization header to send per scope (``repository:NAME:pull,push``)."""

    def __init__(self, registry: str, credentials: Credentials | None) -> None:
        self._registry = registry
        self._credentials = credentials
        self._headers: dict[str, str] = {}

    def headers(self, scope: str) -> dict[str, str]:
        value = self._headers.get(scope) or self._headers.get("*")
        return {"Authorization": value} if value else {}

    async def answer(self, http: httpx.AsyncClient, response: httpx.Response, scope: str) -> None:
        """Get a header for ``scope`` from a 401 ``response``; raises AuthError when we cannot."""
        challenge = response.headers.get("WWW-Authenticate", "")
        kind = challenge.split(" ", 1)[0].lower()
        if kind == "basic":
            if self._credentials is None:
                raise AuthError(f"{self._registry} wants a user name and password (none given)")
            if self._headers.get("*") == self._credentials.basic():
                raise AuthError(f"{self._registry} rejected the user name and password for {scope}")
            self._headers["*"] = self._credentials.basic()
            return
        if kind != "bearer":
            raise AuthError(f"{self._registry} answered 401 with no usable challenge ({challenge!r})")
        params = dict(_PARAM.findall(challenge))
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"{self._registry}: Bearer challenge without a realm ({challenge!r})")
        query = {
            k: v for k, v in (("service", params.get("service")), ("scope", params.get("scope", scope))) if v
        }
        headers = {"Authorization": self._credentials.basic()} if self._credentials else {}
        try:
            r = await http.get(realm, params=query, headers=headers)
        except httpx.HTTPError as e:
            raise AuthError(f"{self._registry}: token service {realm} unreachable: {e}") from e
        if r.status_code != 200:
            raise AuthError(f"{self._registry}: token service {realm} answered {r.status_code} for {scope}")
        try:
            body = r.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise AuthError(f"{self._registry}: token service {realm} sent no token")
        if self._headers.get(scope) == f"Bearer {token}":
            raise AuthError(f"{self._registry} rejected the token for {scope}")
        self._headers[scope] = f"Bearer {token}"
