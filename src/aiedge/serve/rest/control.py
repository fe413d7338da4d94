"""The control endpoint of the site's agent: ``/v2/aiedge/shadow`` sets (``PUT``), reads (``GET``)
and clears (``DELETE``) the shadow mirror's target (:mod:`aiedge.serve.shadow`).

It exists only when the server was started with a control token (``AIEDGE_SERVE_CONTROL_TOKEN``,
which the agent sets), and answers only a loopback client that sends it
(``Authorization: Bearer TOKEN``): the site's proxy forwards client connections from loopback too,
so the token, not the address, is what keeps clients out. Anything else is a 404, as if the route
did not exist. The target URL must be http on loopback: the mirror never sends live requests
anywhere else.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from aiedge.serve.errors import BadRequest, ServeError
from aiedge.serve.limits import CONTROL_BODY_BYTES
from aiedge.serve.rest.asgi import Request, Response, Route, json_response
from aiedge.serve.rest.body import Bodies
from aiedge.serve.rest.errors import error_response
from aiedge.serve.rest.jsonio import parse_json
from aiedge.serve.shadow import ShadowMirror, ShadowTarget

PATH = "/v2/aiedge/shadow"


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _number(doc: dict[str, object], key: str, default: float, high: float) -> float:
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise BadRequest(f"{key}: expected a number from 0 to {high:g}")
    return float(value)


def parse_target(doc: object) -> ShadowTarget:
    if not isinstance(doc, dict):
        raise BadRequest('body: expected a JSON object such as {"url": "http://127.0.0.1:9000"}')
    url = doc.get("url")
    if not isinstance(url, str) or len(url) > 200:
        raise BadRequest("url: expected the candidate's base URL, http://127.0.0.1:PORT")
    parts = urlsplit(url)
    if parts.scheme != "http" or not _loopback(parts.hostname) or parts.path not in ("", "/"):
        raise BadRequest(f"url: {url[:80]!r} is not http on loopback (http://127.0.0.1:PORT)")
    argmax = doc.get("argmax", False)
    if not isinstance(argmax, bool):
        raise BadRequest("argmax: expected true or false")
    return ShadowTarget(
        url=url.rstrip("/"),
        share=_number(doc, "share", 0.2, 1.0),
        rtol=_number(doc, "rtol", 1e-5, 1e6),
        atol=_number(doc, "atol", 1e-6, 1e6),
        argmax=argmax,
        max_per_second=_number(doc, "max_per_second", 50.0, 10_000.0),
    )


def routes(mirror: ShadowMirror, token: str | None, bodies: Bodies) -> list[Route]:
    if not token:
        return []
    want = f"Bearer {token}".encode()

    def allowed(request: Request) -> bool:
        client = request.scope.get("client")
        host = client[0] if client else None
        given = (request.header(b"authorization") or "").encode("latin-1", "replace")
        return _loopback(host) and hmac.compare_digest(given, want)

    def hidden(request: Request) -> Response:
        return json_response({"error": f"{request.path}: not found"}, 404)

    async def get(request: Request) -> Response:
        if not allowed(request):
            return hidden(request)
        return json_response({"shadow": mirror.stats.as_json() if mirror.stats else None})

    async def put(request: Request) -> Response:
        if not allowed(request):
            return hidden(request)
        try:
            held = await bodies.read(request, CONTROL_BODY_BYTES, "")
            bodies.release(held)
            target = parse_target(parse_json(request.body))
        except ServeError as e:
            return error_response(e)
        mirror.set(target)
        return json_response({"shadow": mirror.stats.as_json() if mirror.stats else None})

    async def delete(request: Request) -> Response:
        if not allowed(request):
            return hidden(request)
        mirror.clear()
        return json_response({"shadow": None})

    return [Route(PATH, get), Route(PATH, put, ("PUT",)), Route(PATH, delete, ("DELETE",))]
