"""Request bodies within limits: a Content-Length over the route's limit is refused before a byte
is read, a streamed (chunked) body is counted as it arrives and cut at the limit, and the bodies
all requests hold at once stay within one budget (past it new requests get 503 + Retry-After, as
a full model queue does). A client too slow to send its body is timed out by the HTTP protocol
(``serve/protocol.py``), which this sees as a disconnect."""

from __future__ import annotations

from aiedge.serve.errors import BadRequest, Overloaded, TooLarge
from aiedge.serve.limits import Limits, setting
from aiedge.serve.rest.asgi import ClientGone, Request


class Bodies:
    """What every REST route reads its body with: the limits and the one budget of the process."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = limits.body_budget_bytes
        self.held = 0

    def limit(self, field: str) -> tuple[int, str]:
        """The limit of settings field ``field``, as routes declare it."""
        return getattr(self.limits, field), field

    async def read(self, request: Request, limit: int, field: str) -> int:
        """Read the body into ``request.body``; returns the budget bytes it holds until ``release``.
        ``field`` names the setting of ``limit`` in a refusal (empty for a fixed limit)."""
        declared = request.header(b"content-length")
        taken = 0
        if declared is not None:
            if not declared.isdigit():
                raise BadRequest(f"Content-Length: {declared[:40]!r} is not a number")
            taken = int(declared)
            if taken > limit:
                raise _too_large(taken, limit, field)
            self._take(taken)
        try:
            message = await request.receive()
            if message["type"] != "http.request":
                raise ClientGone()
            body = message.get("body", b"")
            if message.get("more_body", False):
                chunks, received = [body], len(body)
                while message.get("more_body", False):
                    message = await request.receive()
                    if message["type"] != "http.request":
                        raise ClientGone()
                    chunk = message.get("body", b"")
                    received += len(chunk)
                    if received > limit:
                        raise _too_large(f"more than {limit}", limit, field)
                    if received > taken:
                        self._take(received - taken)
                        taken = received
                    chunks.append(chunk)
                body = b"".join(chunks)
            elif len(body) > taken:  # no Content-Length, one chunk
                if len(body) > limit:
                    raise _too_large(len(body), limit, field)
                self._take(len(body) - taken)
                taken = len(body)
        except BaseException:
            self.release(taken)
            raise
        request.body = body
        return taken

    def _take(self, n: int) -> None:
        if self.held + n > self.total:
            raise Overloaded(
                f"request bodies in flight hold {self.held} of {self.total} bytes "
                f"({setting('body_budget_bytes')}); retry shortly"
            )
        self.held += n

    def release(self, n: int) -> None:
        self.held -= n


def _too_large(n: int | str, limit: int, field: str) -> TooLarge:
    how = f", {setting(field)}" if field else ""
    return TooLarge(f"body: {n} bytes is more than this route takes ({limit} bytes{how})")
