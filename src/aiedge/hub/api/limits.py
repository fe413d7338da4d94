"""Request bodies within limits, for every route of the hub: a Content-Length over the route's limit
is refused (413) before a byte is read, a streamed (chunked) body is counted as it arrives and cut
at the limit (and a compressed one may decode to no more than that limit either), a client that
takes longer than ``body_timeout`` to send it gets 408, and the bodies all requests hold at once
stay within one budget (past it: 503 + Retry-After). The route's endpoint then reads the body as
usual, from memory.

An ASGI middleware in front of the route table, so a route added later is limited too (to the
default, the smallest that fits a status report). Before it, :func:`http_protocol` bounds the
request line and headers (431 past ``max_header_bytes``, 408 past ``header_timeout``); keep-alive
and the connection limit are uvicorn's settings (:mod:`aiedge.hub.server`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiedge.hub.settings import HubSettings
from aiedge.serve.protocol import with_timeouts  # one slowloris guard for both servers

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DECODED_LIMIT = "aiedge.decoded_limit"
"""Scope key: ``(bytes, setting)`` a request's body may decode to, its route's body limit."""
ENROLL = ("POST", "/api/v1/enroll")
METRICS_WRITE = ("POST", "/api/v1/metrics/write")


def setting(name: str) -> str:
    """The environment variable of a hub settings field, as refusals name it."""
    return f"AIEDGE_HUB_{name.upper()}"


@dataclass(frozen=True, slots=True)
class BodyLimits:
    default: int = 1024 * 1024
    routes: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    """``(method, path) -> (limit, settings field)`` for the routes that differ from the default."""
    budget: int = 64 * 1024 * 1024
    timeout: float = 30.0

    @classmethod
    def of(cls, s: HubSettings) -> BodyLimits:
        return cls(
            default=s.max_body_bytes,
            routes={
                ENROLL: (s.enroll_max_body_bytes, "enroll_max_body_bytes"),
                METRICS_WRITE: (s.metrics_max_body_bytes, "metrics_max_body_bytes"),
            },
            budget=s.body_budget_bytes,
            timeout=s.body_timeout,
        )

    def limit(self, method: str, path: str) -> tuple[int, str]:
        return self.routes.get((method, path.rstrip("/") or "/"), (self.default, "max_body_bytes"))


class _Refused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class LimitBodies:
    """The middleware: reads each body within its limits, then hands it to ``app``."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits
        self.held = 0  # body bytes held by requests now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared: str | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value.decode("latin-1")
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if declared is None and not chunked:
            await self.app(scope, receive, send)  # no body (a GET, a long poll): nothing to hold
            return
        hold = _Hold()
        try:
            limit, field_name = self.limits.limit(scope["method"], scope["path"])
            if declared is not None:
                if not declared.isdigit():
                    raise _Refused(400, f"Content-Length: {declared[:40]!r} is not a number")
                if int(declared) > limit:
                    raise _Refused(413, self._too_large(declared, limit, field_name))
                self._take(hold, int(declared))
            body = await self._read(receive, limit, field_name, hold)
        except _Refused as e:
            await _answer(send, e.status, str(e), e.headers)
        except _Disconnected:
            pass
        else:
            # the same limit bounds what the body decodes to (aiedge.hub.api.encoding)
            scope[DECODED_LIMIT] = (limit, setting(field_name))
            await self.app(scope, _replay(body, receive), send)
        finally:
            self.held -= hold.n

    def _take(self, hold: _Hold, n: int) -> None:
        if self.held + n > self.limits.budget:
            raise _Refused(
                503,
                f"request bodies in flight hold {self.held} of {self.limits.budget} bytes "
                f"({setting('body_budget_bytes')}); retry shortly",
                {"Retry-After": "1"},
            )
        self.held += n
        hold.n += n

    async def _read(self, receive: Receive, limit: int, field_name: str, hold: _Hold) -> bytes:
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.limits.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise _Disconnected
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > limit:
                        raise _Refused(413, self._too_large(f"more than {limit}", limit, field_name))
                    if received > hold.n:
                        self._take(hold, received - hold.n)
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise _Refused(
                408, f"body: not received within {self.limits.timeout:g} s ({setting('body_timeout')})"
            ) from None

    @staticmethod
    def _too_large(n: str, limit: int, field_name: str) -> str:
        return f"body: {n} bytes is more than this route takes ({limit} bytes, {setting(field_name)})"


class _Hold:
    """The budget one request holds."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


class _Disconnected(Exception):
    """The client went away before sending all of its body: nobody to answer."""


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: the disconnect, when it comes

    return replay


async def _answer(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    """A refusal. The connection stays open (but for a slow client), so uvicorn reads the rest of
    the body and throws it away unbuffered: closing with unread data would reset the connection,
    and the client would never read why."""
    body = orjson.dumps({"error": message})
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 408:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def http_protocol(settings: HubSettings) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP/1.1 protocol with a header timeout and a cap on a request's line and headers,
    which it would otherwise buffer for as long as the timeout lets a fast client send; its 408
    names the hub's setting. Not eager (:mod:`aiedge.serve.eager`): at 10,000 sites it saved
    nothing measurable, and the body's timer here needs the task each request runs in."""
    return with_timeouts(settings.header_timeout, None, settings.max_header_bytes, name=setting)
