"""The REST server's ASGI application: one route table, requests, responses, lifespan.

A few hundred lines in place of a web framework, because on the hot inference routes a
framework's routing, request and middleware objects cost several times the model itself (a
100-tree ONNX ensemble predicts in ~5 us). What it owns: matching a path against the one table
(built once; a path declared twice is an error at start-up), lazy access to headers and query,
and answering 404/405/500 as JSON. It knows nothing of models or protocols; handlers read their
bodies within limits with ``rest/body.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from aiedge.serve.errors import ServeError

log = logging.getLogger("aiedge.serve")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON = b"application/json"


class Response:
    __slots__ = ("body", "headers", "status_code")

    def __init__(
        self,
        body: bytes,
        status_code: int = 200,
        media_type: bytes = JSON,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.body, self.status_code = body, status_code
        self.headers = [(b"content-type", media_type), (b"content-length", b"%d" % len(body)), *headers]

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def json_response(
    content: Any, status_code: int = 200, headers: Sequence[tuple[bytes, bytes]] = ()
) -> Response:
    # numpy arrays in ``content`` are written by orjson itself (large outputs stay arrays)
    return Response(orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), status_code, JSON, headers)


class Request:
    """One request: its path parameters, headers and query read lazily, and its body once read."""

    __slots__ = ("body", "path_params", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive, path_params: dict[str, str]) -> None:
        self.scope, self.receive, self.path_params = scope, receive, path_params
        self.body = b""

    @property
    def path(self) -> str:
        return str(self.scope["path"])

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    def header(self, name: bytes) -> str | None:
        """The value of header ``name`` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value).decode("latin-1")
        return None

    def query(self, name: str) -> str | None:
        qs = self.scope.get("query_string") or b""
        if not qs:
            return None
        return dict(parse_qsl(qs.decode("latin-1"))).get(name)


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """``path`` like ``/v2/models/{name}/infer``; a last segment ``{rest:path}`` takes the rest."""

    path: str
    handler: Handler
    methods: tuple[str, ...] = ("GET",)


class _Compiled:
    __slots__ = ("literals", "names", "rest", "route")

    def __init__(self, route: Route) -> None:
        segments = route.path.strip("/").split("/")
        self.rest = segments[-1].endswith(":path}")
        self.literals: list[tuple[int, str]] = []
        self.names: list[tuple[int, str]] = []
        for i, seg in enumerate(segments):
            if seg.startswith("{") and seg.endswith("}"):
                self.names.append((i, seg[1:-1].split(":")[0]))
            else:
                self.literals.append((i, seg))
        self.route = route

    def match(self, segments: list[str]) -> dict[str, str] | None:
        for i, lit in self.literals:
            if segments[i] != lit:
                return None
        params = {name: segments[i] for i, name in self.names}
        if self.rest:
            i, name = self.names[-1]
            params[name] = "/".join(segments[i:])
        return params


_SEEN = 1024  # matched paths remembered (clients choose paths, so a bounded number)


class Router:
    """The one route table. Routes are grouped by their number of path segments (and a
    ``{rest:path}`` route by its prefix), so a lookup compares a handful of literals."""

    def __init__(self, routes: Sequence[Route]) -> None:
        seen: set[tuple[str, str]] = set()
        self._seen: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}  # paths matched before
        self._by_length: dict[int, list[_Compiled]] = {}
        self._rest: list[tuple[int, _Compiled]] = []
        for route in routes:
            for method in route.methods:
                if (method, route.path) in seen:
                    raise ValueError(f"route {method} {route.path} is declared twice")
                seen.add((method, route.path))
            compiled = _Compiled(route)
            n = len(route.path.strip("/").split("/"))
            if compiled.rest:
                self._rest.append((n - 1, compiled))
            else:
                self._by_length.setdefault(n, []).append(compiled)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, path parameters, whether the path exists for another method)."""
        hit = self._seen.get((method, path))
        if hit is not None:
            return hit[0], dict(hit[1]), False
        route, params, other = self._match(method, path)
        if route is not None and len(self._seen) < _SEEN:
            self._seen[(method, path)] = (route, params)
            params = dict(params)
        return route, params, other

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        segments = path.strip("/").split("/")
        other_method = False
        candidates = self._by_length.get(len(segments), [])
        for compiled in candidates:
            params = compiled.match(segments)
            if params is not None:
                if method in compiled.route.methods:
                    return compiled.route, params, False
                other_method = True
        for prefix_len, compiled in self._rest:
            if len(segments) > prefix_len:
                params = compiled.match(segments)
                if params is not None:
                    if method in compiled.route.methods:
                        return compiled.route, params, False
                    other_method = True
        return None, {}, other_method


class App:
    """The ASGI callable uvicorn runs."""

    def __init__(
        self,
        routes: Sequence[Route],
        on_error: Callable[[ServeError], Response],
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.router = Router(routes)
        self._on_error = on_error
        self._on_startup, self._on_shutdown = on_startup, on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route, params, other_method = self.router.match(scope["method"], scope["path"])
        if route is None:
            if other_method:
                response = json_response(
                    {"error": f"{scope['path']}: method {scope['method']} not allowed"}, 405
                )
            else:
                response = json_response({"error": f"{scope['path']}: not found"}, 404)
            await response.send(send)
            return
        try:
            response = await route.handler(Request(scope, receive, params))
        except ServeError as e:  # handlers answer their own; this is the table's last word
            response = self._on_error(e)
        except ClientGone:
            return
        except Exception:
            log.exception("%s %s failed", scope["method"], scope["path"])
            response = json_response({"error": "internal error; the server log has the details"}, 500)
        await response.send(send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._on_startup is not None:
                        await self._on_startup()
                except Exception as e:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._on_shutdown is not None:
                    await self._on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


class ClientGone(Exception):
    """The client disconnected before its request was complete: there is no one to answer."""
