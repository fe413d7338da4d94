"""What every area of the hub's API shares: JSON answers, the error body, request bodies, the
error tables each area maps its domain errors with, and the services the endpoints call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from aiedge.gitops import UnknownSite
from aiedge.hub.api.encoding import BadEncoding, DecodedTooLarge, decode
from aiedge.hub.api.limits import DECODED_LIMIT
from aiedge.hub.clock import Clock
from aiedge.hub.errors import Forbidden, HubError, NoRevision, NotAuthenticated, ShuttingDown
from aiedge.hub.fleet import Fleet
from aiedge.hub.settings import HubSettings
from aiedge.hub.store import Store

if TYPE_CHECKING:
    from aiedge.hub.observability import Observability

Endpoint = Callable[[Request], Awaitable[Response]]
ErrorTable = Sequence[tuple[type[Exception], int]]


class BadRequest(HubError):
    """A malformed request (query, body)."""


# what any endpoint that reads a site's state may raise; each area adds its own errors in front
SITE_ERRORS: ErrorTable = (
    (UnknownSite, 404),
    (NotAuthenticated, 401),
    (Forbidden, 403),
    (NoRevision, 503),
    (ShuttingDown, 503),
    (BadRequest, 400),
    (BadEncoding, 400),
    (DecodedTooLarge, 413),
)


@dataclass(frozen=True, slots=True)
class Services:
    """The one core every area of the API is a thin transport over."""

    settings: HubSettings
    fleet: Fleet
    store: Store
    observability: Observability
    clock: Clock


def json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


def error(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    return json({"error": message, **extra}, status, headers)


def invalid(e: ValidationError) -> Response:
    details = [{"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]} for err in e.errors()]
    first = details[0] if details else {"field": "", "message": "invalid"}
    return error(422, f"invalid body: {first['field']}: {first['message']}", details=details)


async def body(request: Request) -> bytes:
    """The request's body, decoded (``Content-Encoding: gzip``) to at most its route's body limit."""
    data = await request.body()
    if not data:
        raise BadRequest("empty body: send JSON")
    limit, setting = request.scope.get(DECODED_LIMIT, (len(data), "the body's own size"))
    return decode(data, request.headers.get("content-encoding"), limit, setting)


def route(path: str, endpoint: Endpoint, method: str, errors: ErrorTable) -> Route:
    """A route whose endpoint answers the domain errors in ``errors`` (first match wins) with
    their status code and ``{"error": message}`` (and ``Retry-After`` for an error that says when
    to come back); any other exception is a bug (a 500)."""

    async def mapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Exception as e:
            for kind, code in errors:
                if isinstance(e, kind):
                    retry = getattr(e, "retry_after", None)
                    return error(code, str(e), {"Retry-After": str(retry)} if retry else None)
            raise

    return Route(path, mapped, methods=[method], name=f"{method} {path}")
