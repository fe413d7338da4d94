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

With ``eager``, a request with a small, complete body is answered by ``serve/eager.py`` (the
application stepped at once, the answer in one write) instead of by an ASGI task; any other
request (chunked or large bodies, ``Expect: 100-continue``, HEAD, upgrades, one pipelined behind a
request still being answered, the concurrency limit reached) goes uvicorn's way.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from aiedge.serve.eager import EagerCycle, run_eagerly
from aiedge.serve.limits import setting

SWEEP_S = 0.5
EAGER_BODY_MAX = 65536  # below uvicorn's read buffer's high-water mark: the body is read whole


class _Busy:
    """Stands for an eager answer still being made, so uvicorn queues a request behind it."""

    response_complete = False


_BUSY = _Busy()


def _timed_out(message: str) -> bytes:
    body = orjson.dumps({"error": message})
    head = "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
)


def with_timeouts(
    header_timeout: float,
    body_timeout: float | None,
    max_header_bytes: int | None = None,
    eager: bool = False,
    name: Callable[[str], str] = setting,
) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn as ``http=``; None turns a limit off. ``name``: the
    environment variable of a settings field (each server names its own in a 408)."""
    header_reply = _timed_out(f"headers: not received within {header_timeout:g} s ({name('header_timeout')})")
    body_reply = _timed_out(f"body: not received within {body_timeout or 0:g} s ({name('body_timeout')})")
    # only the connections in a timed phase: a hub's thousands of held long polls (answer
    # pending, no deadline) cost the sweep nothing
    timed: set[TimedProtocol] = set()
    sweeper: list[asyncio.TimerHandle] = []

    def sweep(loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for conn in [c for c in timed if c.deadline is not None and c.deadline < now]:
            conn.time_out()
        sweeper[:] = [loop.call_later(SWEEP_S, sweep, loop)] if timed else []

    class TimedProtocol(HttpToolsProtocol):
        _deadline: float | None = None
        in_body = False
        in_headers = False  # between a request's first byte and the end of its headers
        header_bytes = 0
        eager_body: bytearray | None = None  # the body of a request to be answered eagerly
        eager_cycle: EagerCycle | None = None  # an eager answer that went on as a task
        eager_keep_alive = True

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.in_headers and max_header_bytes is not None:  # one read past the cap at most
                self.header_bytes += len(data)
                if self.header_bytes > max_header_bytes and not self.transport.is_closing():
                    self.transport.write(_HEADERS_TOO_LARGE)
                    self.transport.close()

        @property
        def deadline(self) -> float | None:
            """Loop time by which the current phase must be complete (None: not timed now)."""
            return self._deadline

        @deadline.setter
        def deadline(self, value: float | None) -> None:
            self._deadline = value
            if value is None:
                timed.discard(self)
                return
            timed.add(self)
            if not sweeper:
                sweeper.append(self.loop.call_later(SWEEP_S, sweep, self.loop))

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self.deadline = self.loop.time() + header_timeout

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self.in_headers, self.header_bytes = True, 0
            if self.deadline is None:
                self.deadline = self.loop.time() + header_timeout

        def on_headers_complete(self) -> None:
            self.in_headers = False
            if eager and self._eager_fits():
                self._begin_eager()
            else:
                if self.eager_cycle is not None and not self.parser.should_upgrade():
                    self.cycle = _BUSY  # type: ignore[assignment]  # pipelined behind an eager answer
                super().on_headers_complete()
            if body_timeout is None:
                self.deadline = None
            else:
                self.deadline, self.in_body = self.loop.time() + body_timeout, True

        def on_body(self, body: bytes) -> None:
            if self.eager_body is None:
                super().on_body(body)
            else:
                self.eager_body += body

        def on_message_complete(self) -> None:
            body = self.eager_body
            if body is None:
                super().on_message_complete()
            self.deadline, self.in_body = None, False
            if body is not None:
                self.eager_body = None
                self._answer_eagerly(bytes(body))

        # -- eager answers (serve/eager.py) ----------------------------------------------------
        def _eager_fits(self) -> bool:
            if self.eager_cycle is not None or self.expect_100_continue or self.parser.should_upgrade():
                return False
            if self.cycle is not None and not self.cycle.response_complete:
                return False
            limit = self.limit_concurrency
            if limit is not None and (len(self.connections) >= limit or len(self.tasks) >= limit):
                return False
            if self.parser.get_method() == b"HEAD":
                return False
            length = None
            for name, value in self.headers:
                if name == b"content-length":
                    if length is not None:
                        return False
                    length = value
                elif name == b"transfer-encoding":
                    return False
            return length is None or (length.isdigit() and int(length) <= EAGER_BODY_MAX)

        def _begin_eager(self) -> None:
            """The request's scope, as uvicorn completes it; its body is gathered here."""
            http_version = self.parser.get_http_version()
            scope = self.scope
            scope["method"] = self.parser.get_method().decode("ascii")
            if http_version != "1.1":
                scope["http_version"] = http_version
            parsed = httptools.parse_url(self.url)
            path = parsed.path.decode("ascii")
            if "%" in path:
                path = urllib.parse.unquote(path)
            scope["path"] = self.root_path + path
            scope["raw_path"] = self.root_path.encode("ascii") + parsed.path
            scope["query_string"] = parsed.query or b""
            self.eager_keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
            self.eager_body = bytearray()

        def _answer_eagerly(self, body: bytes) -> None:
            cycle = EagerCycle(
                self.transport,
                self.flow,
                body,
                self.eager_keep_alive,
                self.server_state.default_headers,
                self._eager_answered,
            )
            task = run_eagerly(self.app, self.scope, cycle, self.loop)
            if task is not None:  # held here too: the loop keeps only weak references to tasks
                self.tasks.add(task)
                task.add_done_callback(self._eager_done)
                if not cycle.response_complete:
                    self.eager_cycle = cycle

        def _eager_answered(self) -> None:
            self.eager_cycle = None
            self.on_response_complete()

        def _eager_done(self, task: asyncio.Task[None]) -> None:
            self.tasks.discard(task)
            if self.eager_cycle is not None and self.eager_cycle.response_complete:
                self.eager_cycle = None

        def shutdown(self) -> None:
            if self.eager_cycle is not None:
                self.eager_cycle.keep_alive = False
            elif self.eager_body is not None:
                self.eager_keep_alive = False
            else:
                super().shutdown()

        def connection_lost(self, exc: Exception | None) -> None:
            timed.discard(self)
            self.eager_body = None
            if self.eager_cycle is not None:
                self.eager_cycle.lost()
            super().connection_lost(exc)

        def time_out(self) -> None:
            self.deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if self.eager_body is not None or cycle is None or not cycle.response_started:
                # else the client has its answer already
                self.transport.write(body_reply if self.in_body else header_reply)
            self.transport.close()

    return TimedProtocol
