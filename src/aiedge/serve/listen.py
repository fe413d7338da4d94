"""The server's listening sockets, bound before any model loads, so a port that is taken or an
address that is not this machine's is one clear error at once, not a traceback after loading.

HTTP listens on the socket bound here (uvicorn is given it); gRPC binds its own port, so its port
is only checked here.
"""

from __future__ import annotations

import errno
import socket

from aiedge.serve.errors import CannotListen

_REASONS = {
    errno.EADDRINUSE: "address already in use",
    errno.EADDRNOTAVAIL: "not an address of this machine",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
}


def bind(host: str, port: int, what: str, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``what`` names it in errors (``HTTP``, ``gRPC``).
    ``--workers`` share one: forked, each worker inherits it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise CannotListen(f"cannot listen on {host}:{port} ({what}): unknown host ({e.strerror})") from e
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as e:
        sock.close()
        reason = _REASONS.get(e.errno or 0, (e.strerror or str(e)).lower())
        raise CannotListen(f"cannot listen on {host}:{port} ({what}): {reason}") from e
    return sock


def check_free(host: str, port: int, what: str) -> None:
    """Fail now, as ``bind`` would, when ``host:port`` cannot be listened on."""
    bind(host, port, what, backlog=1).close()
