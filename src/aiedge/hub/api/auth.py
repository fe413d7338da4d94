"""Who may call which route of the hub, decided once for the whole route table, and the login that
gives the dashboard an operator token in a cookie.

Every route needs an operator token (``read`` for GET, ``admin`` for anything else) unless this
table says otherwise: the sites' own routes check the site's credential themselves, the webhook
checks its signature, enrolment takes a join token in its body, and health and the dashboard's
files are public. A route added later is therefore an operator route by default, never an open
one. ``--insecure-no-auth`` turns all of it off (local demos only).

The token comes as ``Authorization: Bearer <token>`` (CLI, scripts) or in the ``aiedge_operator``
cookie set by ``POST /api/v1/login`` (HttpOnly, SameSite=Strict, Secure over HTTPS). A call that
changes something and is authenticated by the cookie must also send ``X-Requested-By`` (any
value): a cross-site page cannot set a custom header without a CORS preflight, which the hub
never grants, so it cannot make a browser act for a logged-in operator.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from aiedge.hub.api.http import BadRequest, Endpoint, ErrorTable, Services, body, error, json, route
from aiedge.hub.errors import Forbidden, NotAuthenticated
from aiedge.hub.operators import ADMIN, READ, operator_of, require

COOKIE = "aiedge_operator"
CSRF_HEADER = "x-requested-by"
PUBLIC, SITE, WEBHOOK = "public", "site", "webhook"

# (method, path) -> who may call it, where it is not an operator's READ (GET) or ADMIN (the rest)
ACCESS: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/api/v1/health"): PUBLIC,
    ("POST", "/api/v1/enroll"): PUBLIC,  # the join token in the body is the credential
    ("POST", "/api/v1/login"): PUBLIC,
    ("POST", "/api/v1/logout"): PUBLIC,
    ("GET", "/api/v1/sites/{site}/desired"): SITE,
    ("POST", "/api/v1/sites/{site}/status"): SITE,
    ("POST", "/api/v1/sites/{site}/minutes"): SITE,
    ("POST", "/api/v1/sites/{site}/drift"): SITE,
    ("POST", "/api/v1/metrics/write"): SITE,
    ("POST", "/api/v1/webhook/git"): WEBHOOK,
    ("GET", "/api/v1/sites/{site}/requests"): SITE,  # a site fetching the operators' requests
    ("POST", "/api/v1/sites/{site}/requests/{id}/answer"): SITE,
    ("GET", "/api/v1/sites/{site}/requests/{id}"): ADMIN,  # a site's logs can hold data: admins only
}

ERRORS: ErrorTable = ((NotAuthenticated, 401), (Forbidden, 403), (BadRequest, 400))


def access(method: str, path: str) -> str:
    return ACCESS.get((method, path), READ if method in ("GET", "HEAD") else ADMIN)


def operator_token(request: Request) -> tuple[str | None, bool]:
    """The operator token a request carries, and whether it came in the cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None, False
    cookie = request.cookies.get(COOKIE)
    return cookie, cookie is not None


def _guarded(endpoint: Endpoint, role: str, hub: Services) -> Endpoint:
    async def guarded(request: Request) -> Response:
        token, from_cookie = operator_token(request)
        try:
            operator = await operator_of(hub.store, token)
            require(operator, role)
            if from_cookie and role == ADMIN and not request.headers.get(CSRF_HEADER):
                raise Forbidden(f"a call that changes something from a browser must send {CSRF_HEADER}")
        except (NotAuthenticated, Forbidden) as e:
            return error(401 if isinstance(e, NotAuthenticated) else 403, str(e))
        return await endpoint(request)

    return guarded


def guard(routes: Iterable[BaseRoute], hub: Services) -> list[BaseRoute]:
    """``routes`` with an operator check in front of every one that is an operator's."""
    if hub.settings.insecure_no_auth:
        return list(routes)
    out: list[BaseRoute] = []
    for r in routes:
        if isinstance(r, Route):
            methods = sorted((r.methods or {"GET"}) - {"HEAD"})
            roles = {access(m, r.path) for m in methods}
            if len(roles) != 1:
                raise ValueError(f"{r.path}: one route, one access ({roles}): declare one per method")
            (role,) = roles
            if role in (READ, ADMIN):
                r = Route(r.path, _guarded(r.endpoint, role, hub), methods=methods, name=r.name)
        out.append(r)
    return out


def routes(hub: Services) -> list[BaseRoute]:
    async def login(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise BadRequest('send the token as JSON: {"token": "aiedge-operator-..."}')
        try:
            data = await body(request)
            token = orjson.loads(data).get("token")
        except (orjson.JSONDecodeError, AttributeError):
            raise BadRequest('body: want {"token": "aiedge-operator-..."}') from None
        if not isinstance(token, str):
            raise BadRequest("token: want a string")
        token = token.strip()
        if hub.settings.insecure_no_auth:
            return json({"name": None, "role": ADMIN, "auth": False})
        operator = await operator_of(hub.store, token)
        answer = json({"name": operator.name, "role": operator.role, "auth": True})
        answer.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/"
        )
        return answer

    async def logout(request: Request) -> Response:
        answer = json({"logged_out": True})
        answer.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return answer

    async def whoami(request: Request) -> Response:
        if hub.settings.insecure_no_auth:
            return json({"name": None, "role": ADMIN, "auth": False})
        operator = await operator_of(hub.store, operator_token(request)[0])
        return json({"name": operator.name, "role": operator.role, "auth": True})

    return [
        route("/api/v1/login", login, "POST", ERRORS),
        route("/api/v1/logout", logout, "POST", ERRORS),
        route("/api/v1/whoami", whoami, "GET", ERRORS),
    ]
