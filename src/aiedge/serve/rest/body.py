"""Request bodies within limits: a Content-Length over the route's limit is refused before a byte
is read, a streamed (chunked) body is counted as it arrives and cut at the limit, a client that
takes too long to send gets 408, and the bodies all requests hold at once stay within one budget
(past it new requests get 503 + Retry-After, as a full model queue does)."""

from __future__ import annotations

import asyncio
from types import TracebackType

from starlette.requests import ClientDisconnect, Request

from aiedge.serve.errors import BadRequest, Overloaded, RequestTimeout, TooLarge
from aiedge.serve.limits import Limits, setting


class BodyBudget:
    """Body bytes held by every request of this process together."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.held = 0

    def take(self, n: int) -> None:
        if self.held + n > self.total:
            raise Overloaded(
                f"request bodies in flight hold {self.held} of {self.total} bytes "
                f"({setting('body_budget_bytes')}); retry shortly"
            )
        self.held += n


class Bodies:
    """What every REST route reads its body with: the limits and the one budget of the process."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.budget = BodyBudget(limits.body_budget_bytes)

    def read(self, request: Request, field: str, limit: int | None = None) -> Body:
        """``async with bodies.read(request, "max_json_bytes") as data:``: the limit is the settings
        field ``field`` (named in the refusal), or a fixed ``limit`` with ``field`` empty."""
        return Body(request, getattr(self.limits, field) if limit is None else limit, field, self)


class Body:
    """The body of one request; the budget taken for it is given back when the ``async with``
    block ends, once the decoded request is no longer needed."""

    def __init__(self, request: Request, limit: int, field: str, bodies: Bodies) -> None:
        self._request, self._limit, self._field = request, limit, field
        self._budget, self._timeout = bodies.budget, bodies.limits.body_timeout
        self._taken = 0

    def _too_large(self, n: int | str) -> TooLarge:
        how = f", {setting(self._field)}" if self._field else ""
        return TooLarge(f"body: {n} bytes is more than this route takes ({self._limit} bytes{how})")

    async def __aenter__(self) -> bytes:
        try:
            return await self._read()
        except BaseException:
            self._give_back()
            raise

    async def _read(self) -> bytes:
        declared = self._request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise BadRequest(f"Content-Length: {declared[:40]!r} is not a number")
            n = int(declared)
            if n > self._limit:
                raise self._too_large(n)
            self._take(n)
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self._timeout):
                async for chunk in self._request.stream():
                    received += len(chunk)
                    if received > self._limit:
                        raise self._too_large(f"more than {self._limit}")
                    if received > self._taken:
                        self._take(received - self._taken)
                    chunks.append(chunk)
        except TimeoutError as e:
            raise RequestTimeout(
                f"body: not received within {self._timeout:g} s ({setting('body_timeout')})"
            ) from e
        except ClientDisconnect as e:
            raise BadRequest("body: the client disconnected before sending all of it") from e
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _take(self, n: int) -> None:
        self._budget.take(n)
        self._taken += n

    def _give_back(self) -> None:
        self._budget.held -= self._taken
        self._taken = 0

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._give_back()
