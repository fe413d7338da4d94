"""uvicorn's HTTP/1.1 protocol (httptools) with header and body timeouts and a cap on headers.

uvicorn times out idle keep-alive connections, but not a client that connects and then sends its
request line and headers slowly, or never (slowloris), nor one that stops halfway through a body:
each such connection would be held for good. Here a request must complete its headers within
``header_timeout`` seconds (from connecting, or from the first byte of the request), and its body
within ``body_timeout`` seconds of its headers; otherwise it gets a 408 naming the setting and
the connection is closed (the application sees a disconnect). A request line and headers over
``max_header_bytes`` (which uvicorn would buffer for as long as the timeout lets a fast client
send) get a 431 and the connection is closed.

Deadlines are two attribute writes per request; one sweep every half second (while any connection
is open) enforces them, so a request pays no timer of its own.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiedge.serve.limits import setting

SWEEP_S = 0.5


def _timed_out(message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


def with_header_timeout(seconds: float) -> type[HttpToolsProtocol]:
    """Only the header timeout (the hub times bodies itself)."""
    return with_timeouts(seconds, None)


def with_timeouts(
    header_timeout: float, body_timeout: float | None, max_header_bytes: int | None = None
) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn as ``http=``; None turns a limit off."""
    header_reply = _timed_out(
        f"headers: not received within {header_timeout:g} s ({setting('header_timeout')})"
    )
    body_reply = _timed_out(f"body: not received within {body_timeout or 0:g} s ({setting('body_timeout')})")
    open_connections: set[TimedProtocol] = set()
    sweeper: list[asyncio.TimerHandle] = []

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in [c for c in open_connections if c.deadline is not None and c.deadline < now]:
            conn.time_out()
        sweeper[:] = [loop.call_later(SWEEP_S, sweep, loop)] if open_connections else []

    class TimedProtocol(HttpToolsProtocol):
        deadline: float | None = None  # loop time by which the current phase must be complete
        in_body = False
        in_headers = False  # between a request's first byte and the end of its headers
        header_bytes = 0

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.in_headers and max_header_bytes is not None:  # one read past the cap at most
                self.header_bytes += len(data)
                if self.header_bytes > max_header_bytes and not self.transport.is_closing():
                    self.transport.write(_HEADERS_TOO_LARGE)
                    self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.deadline = self.loop.time() + header_timeout
            open_connections.add(self)
            if not sweeper:
                sweeper.append(self.loop.call_later(SWEEP_S, sweep, self.loop))

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.in_headers, self.header_bytes = True, 0
            if self.deadline is None:
                self.deadline = self.loop.time() + header_timeout

        def on_headers_complete(self) -> None:
            self.in_headers = False
            super().on_headers_complete()
            if body_timeout is None:
                self.deadline = None
            else:
                self.deadline, self.in_body = self.loop.time() + body_timeout, True

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self.deadline, self.in_body = None, False

        def connection_lost(self, exc: Exception | None) -> None:
            open_connections.discard(self)
            super().connection_lost(exc)

        def time_out(self) -> None:
            self.deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or not cycle.response_started:  # else the client has its answer already
                self.transport.write(body_reply if self.in_body else header_reply)
            self.transport.close()

    return TimedProtocol
