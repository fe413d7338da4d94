"""A counting TCP proxy on loopback (a fake *network*, the real servers behind it): every byte that
crosses it, each way, attributed to a traffic kind by the HTTP/1.1 request it belongs to. The link
tests and ``benchmarks/link_usage.py`` count with it.

It relays bytes unchanged and parses the HTTP framing on the side (request and status lines,
headers, ``Content-Length`` and chunked bodies, bodiless answers to HEAD and 1xx/204/304), so a
keep-alive connection that carries a long poll, then a status report, then a metrics batch has
each exchange counted under its own kind. The kind of a request comes from its path
(:func:`classify` by default); its answer is counted under the same kind. ``down()`` cuts the
link: open connections are reset and new ones are closed at once until ``up()``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Classify = Callable[[str, str], str]


def classify(method: str, path: str) -> str:
    """The traffic kind of a hub or registry request."""
    path = path.split("?", 1)[0]
    if path.startswith("/v2/"):
        return "downloads"
    if path.endswith("/desired") or path == "/api/v1/enroll":
        return "control"
    if path.endswith("/status"):
        return "status"
    if path.endswith("/minutes") or path.startswith("/api/v1/metrics/write") or path == "/api/v1/write":
        return "metrics"
    return "other"


@dataclass
class Counts:
    """Bytes each way per kind, requests per kind and connections opened."""

    up: Counter[str] = field(default_factory=Counter)
    down: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    connections: int = 0

    def copy(self) -> Counts:
        return Counts(Counter(self.up), Counter(self.down), Counter(self.requests), self.connections)

    def minus(self, before: Counts) -> Counts:
        return Counts(
            self.up - before.up,
            self.down - before.down,
            self.requests - before.requests,
            self.connections - before.connections,
        )

    def total(self, kind: str | None = None) -> int:
        if kind is None:
            return sum(self.up.values()) + sum(self.down.values())
        return self.up[kind] + self.down[kind]


class _Framing:
    """Incremental HTTP/1.1 message framing of one direction of one connection."""

    def __init__(self, on_head: Callable[[bytes], tuple[str, str]], count: Callable[[str, int], None]):
        self._on_head = on_head  # parses a head, returns (kind, body mode)
        self._count = count
        self._buf = b""
        self._state = "head"
        self._left = 0
        self._kind = "other"

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            if self._state == "head":
                end = self._buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head, self._buf = self._buf[: end + 4], self._buf[end + 4 :]
                self._kind, mode = self._on_head(head)
                self._count(self._kind, len(head))
                if mode == "chunked":
                    self._state = "chunk-size"
                elif mode == "close":
                    self._state = "close"
                else:
                    self._left = int(mode)
                    self._state = "body" if self._left else "head"
            elif self._state == "body":
                n = min(self._left, len(self._buf))
                self._count(self._kind, n)
                self._buf, self._left = self._buf[n:], self._left - n
                if not self._left:
                    self._state = "head"
            elif self._state == "chunk-size":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return
                line, self._buf = self._buf[: end + 2], self._buf[end + 2 :]
                self._count(self._kind, len(line))
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size:
                    self._left, self._state = size + 2, "chunk-data"  # data and its CRLF
                else:
                    self._state = "trailers"
            elif self._state == "chunk-data":
                n = min(self._left, len(self._buf))
                self._count(self._kind, n)
                self._buf, self._left = self._buf[n:], self._left - n
                if not self._left:
                    self._state = "chunk-size"
            elif self._state == "trailers":
                end = self._buf.find(b"\r\n")
                if end < 0:
                    return
                line, self._buf = self._buf[: end + 2], self._buf[end + 2 :]
                self._count(self._kind, len(line))
                if line == b"\r\n":
                    self._state = "head"
            else:  # until the connection closes
                self._count(self._kind, len(self._buf))
                self._buf = b""


def _headers(head: bytes) -> tuple[list[bytes], dict[bytes, bytes]]:
    lines = head.split(b"\r\n")
    fields: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return lines[0].split(b" ", 2), fields


def _body_mode(fields: dict[bytes, bytes], default: str) -> str:
    if b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        return "chunked"
    if b"content-length" in fields:
        return fields[b"content-length"].decode()
    return default


class LinkProxy:
    """Listens on a free loopback port and relays to ``upstream`` (``host:port``), counting."""

    def __init__(self, upstream: str, kind_of: Classify = classify) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.kind_of = kind_of
        self.counts = Counts()
        self._lock = threading.Lock()
        self._down = False
        self._conns: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def snapshot(self) -> Counts:
        with self._lock:
            return self.counts.copy()

    def down(self) -> None:
        """Cut the link: reset every connection, refuse new ones until :meth:`up`."""
        with self._lock:
            self._down = True
            conns, self._conns = self._conns, []
        for s in conns:
            reset(s)

    def up(self) -> None:
        with self._lock:
            self._down = False

    def close(self) -> None:
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                reset(client)
                continue
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                reset(client)
                continue
            with self._lock:
                self._conns += [client, server]
                self.counts.connections += 1
            pending: deque[tuple[str, str]] = deque()  # (kind, method) of requests not yet answered
            threading.Thread(target=self._pump, args=(client, server, True, pending), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False, pending), daemon=True).start()

    def _count(self, up: bool, kind: str, n: int) -> None:
        with self._lock:
            (self.counts.up if up else self.counts.down)[kind] += n

    def _pump(
        self, src: socket.socket, dst: socket.socket, up: bool, pending: deque[tuple[str, str]]
    ) -> None:
        def request_head(head: bytes) -> tuple[str, str]:
            (method, target, *_), fields = _headers(head)
            kind = self.kind_of(method.decode(), target.decode())
            pending.append((kind, method.decode()))
            with self._lock:
                self.counts.requests[kind] += 1
            return kind, _body_mode(fields, "0")

        def response_head(head: bytes) -> tuple[str, str]:
            (_, status, *_), fields = _headers(head)
            code = int(status)
            kind, method = pending[0] if pending else ("other", "GET")
            if code >= 200 and pending:
                pending.popleft()
            if code < 200 or code in (204, 304) or method == "HEAD":
                return kind, "0"
            return kind, _body_mode(fields, "close")

        framing = _Framing(request_head if up else response_head, lambda k, n: self._count(up, k, n))
        while data := receive(src, dst):
            try:
                framing.feed(data)
            except (ValueError, IndexError):
                self._count(up, "other", len(data))  # not HTTP we understand: counted, not classified
            try:
                dst.sendall(data)
            except OSError:
                return


def receive(src: socket.socket, dst: socket.socket) -> bytes:
    """The next bytes from ``src``; at its end (or an error) ``dst`` is half-closed and b"" comes back."""
    try:
        data = src.recv(65536)
    except OSError:
        data = b""
    if not data:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
    return data


def reset(s: socket.socket) -> None:
    """Close with RST: a dropped link, not a clean close (a shutdown first wakes a pump blocked
    in ``recv`` on it)."""
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
