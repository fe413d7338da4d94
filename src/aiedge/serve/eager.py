"""Answering an HTTP request without an ASGI task, when the application can answer at once.

uvicorn starts a task per request, hands the body over through an event, and writes the status
line and headers, then the body, in two writes (two system calls, two TCP segments). For a request
whose whole body has arrived and an application that answers it without waiting on anything (a
model that predicts in microseconds on the event loop), that machinery costs several times the
model. Here the application's coroutine is stepped at once, in the protocol's callback, with the
body already read; its response goes out in one write. If it does wait (a model run on a thread, a
batch being gathered, a slow client's write buffer), the same coroutine is continued as a task, so
its semantics are the ones ASGI gives: one context per request, errors answered with 500, a
disconnect reported to ``receive``.

It serves any ASGI application that, until it first waits, does not need to run inside a task:
there ``asyncio.current_task()`` is None (so no ``asyncio.timeout``, no ``asyncio.wait_for``
from Python 3.12 on, and no task groups before the first ``await`` that suspends; the serve
routes use none). The protocol (``serve/protocol.py``) decides which requests come here (a
complete, small, non-chunked body; no
``Expect: 100-continue``, upgrade or HEAD; nothing pipelined ahead of it).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from uvicorn.protocols.http.httptools_impl import HEADER_RE, HEADER_VALUE_RE, STATUS_LINE

log = logging.getLogger("uvicorn.error")

_INTERNAL_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error"
)


class EagerCycle:
    """One request and its response, for an application run by ``run_eagerly``."""

    __slots__ = (
        "_gone",
        "_head",
        "_received",
        "body",
        "chunked",
        "default_headers",
        "disconnected",
        "flow",
        "keep_alive",
        "on_response",
        "remaining",
        "response_complete",
        "response_started",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        flow: Any,
        body: bytes,
        keep_alive: bool,
        default_headers: list[tuple[bytes, bytes]],
        on_response: Callable[[], None],
    ) -> None:
        self.transport, self.flow, self.body, self.keep_alive = transport, flow, body, keep_alive
        self.default_headers, self.on_response = default_headers, on_response
        self.disconnected = self.response_started = self.response_complete = False
        self.chunked = False
        self.remaining = 0
        self._received = False
        self._gone: asyncio.Future[None] | None = None
        self._head = b""

    # -- what the protocol calls -------------------------------------------------------------
    def lost(self) -> None:
        """The connection is gone: a waiting ``receive`` returns ``http.disconnect``."""
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    # -- the ASGI interface ------------------------------------------------------------------
    async def receive(self) -> dict[str, Any]:
        if not self._received:
            self._received = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        if not self.disconnected and not self.response_complete:
            # as uvicorn: after the body, receive waits for the client to go (or the answer to be sent)
            self._gone = asyncio.get_running_loop().create_future()
            await self._gone
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        kind = message["type"]
        if not self.response_started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', but got '{kind}'.")
            self.response_started = True
            self._head = self._encode_head(message["status"], message.get("headers", ()))
            return
        if self.response_complete or kind != "http.response.body":
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent.")
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if self.chunked:
            chunk = [b"%x\r\n" % len(body), body, b"\r\n"] if body else []
            if not more:
                chunk.append(b"0\r\n\r\n")
            data = b"".join(chunk)
        else:
            if len(body) > self.remaining:
                raise RuntimeError("Response content longer than Content-Length")
            self.remaining -= len(body)
            data = body
        head, self._head = self._head, b""
        self.transport.write(head + data if head else data)  # head and body in one write
        if not more:
            if self.remaining:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self._wake()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()

    def _encode_head(self, status: int, headers: Any) -> bytes:
        content = [STATUS_LINE[status]]
        length = None
        closing = False
        for name, value in (*self.default_headers, *headers):
            if HEADER_RE.search(name):
                raise RuntimeError("Invalid HTTP header name.")
            if HEADER_VALUE_RE.search(value):
                raise RuntimeError("Invalid HTTP header value.")
            name = name.lower()
            if name == b"content-length" and length is None:
                length = int(value.decode())
            elif name == b"transfer-encoding" and value.lower() == b"chunked":
                length = -1
            elif name == b"connection" and b"close" in [t.strip().lower() for t in value.split(b",")]:
                self.keep_alive, closing = False, True
            content.extend((name, b": ", value, b"\r\n"))
        if not self.keep_alive and not closing:
            content.append(b"connection: close\r\n")
        if length is None:
            if status in (204, 304):
                length = 0
            else:
                length = -1
                content.append(b"transfer-encoding: chunked\r\n")
        self.chunked = length == -1
        self.remaining = 0 if self.chunked else length
        content.append(b"\r\n")
        return b"".join(content)

    # -- the end of the application's run ---------------------------------------------------
    def finished(self, exc: BaseException | None) -> None:
        """The application returned (or raised ``exc``): what uvicorn does then."""
        if exc is not None:
            log.error("Exception in ASGI application\n", exc_info=exc)
        elif self.response_complete or self.disconnected:
            return
        elif not self.response_started:
            log.error("ASGI callable returned without starting response.")
        else:
            log.error("ASGI callable returned without completing response.")
        if not self.transport.is_closing():
            if not self.response_started:
                self.transport.write(_INTERNAL_ERROR)
            self.transport.close()


def run_eagerly(
    app: Callable[..., Coroutine[Any, Any, None]],
    scope: Any,
    cycle: EagerCycle,
    loop: asyncio.AbstractEventLoop,
) -> asyncio.Task[None] | None:
    """Run ``app`` for one request; None when it answered at once, else the task that goes on."""
    context = contextvars.copy_context()
    coro = app(scope, cycle.receive, cycle.send)
    try:
        waiting = context.run(coro.send, None)
    except StopIteration:
        cycle.finished(None)
        return None
    except BaseException as exc:  # as a task would: the app's failure is logged and answered
        cycle.finished(exc)
        return None
    return loop.create_task(_resume(coro, waiting, cycle), context=context)


async def _resume(coro: Coroutine[Any, Any, None], waiting: Any, cycle: EagerCycle) -> None:
    try:
        await _continue(coro, waiting)
    except BaseException as exc:
        cycle.finished(exc)
        if isinstance(exc, asyncio.CancelledError):
            raise
    else:
        cycle.finished(None)


@types.coroutine
def _continue(coro: Coroutine[Any, Any, None], waiting: Any) -> Generator[Any, Any, None]:
    """Go on with ``coro``, stepped once already and now ``waiting`` on a future: what ``await``
    would do had the coroutine started inside this task."""
    while True:
        try:
            value = yield waiting
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:  # a cancellation: the coroutine gets it where it waits
            try:
                waiting = coro.throw(exc)
            except StopIteration:
                return
            continue
        try:
            waiting = coro.send(value)
        except StopIteration:
            return
