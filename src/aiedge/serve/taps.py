"""Taps: what watches answered requests off the request path (drift, capture, the shadow mirror).

The data plane hands every tap each answered request's decoded inputs and outputs; a tap's
:meth:`Tap.offer` must cost next to nothing: it picks its sample with a credit counter (no random
numbers, no allocation for requests it skips) and appends to a bounded queue, dropping (and
counting) what does not fit. Its own task works the queue later, on the event loop between
requests. :class:`Sampler` and :class:`BoundedQueue` are the two halves every tap shares.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, Protocol, TypeVar

from aiedge.serve.runtimes.base import Array

T = TypeVar("T")


class Tap(Protocol):
    def offer(self, model: str, version: str, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        """One answered request; must not block or raise."""
        ...


class Sampler:
    """Says yes to a ``share`` of calls, evenly spread: every call adds ``share`` of credit, a full
    unit of credit is one yes."""

    __slots__ = ("_credit", "share")

    def __init__(self, share: float) -> None:
        self.share = min(1.0, max(0.0, share))
        self._credit = 0.0

    def take(self) -> bool:
        self._credit += self.share
        if self._credit < 1.0:
            return False
        self._credit -= 1.0
        return True


class BoundedQueue(Generic[T]):
    """A FIFO of at most ``items`` entries and ``max_bytes`` bytes; :meth:`put` refuses the rest."""

    __slots__ = ("_bytes", "_q", "dropped", "max_bytes", "max_items")

    def __init__(self, items: int, max_bytes: int) -> None:
        self.max_items, self.max_bytes = items, max_bytes
        self._q: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self.dropped = 0

    def put(self, item: T, size: int) -> bool:
        if len(self._q) >= self.max_items or self._bytes + size > self.max_bytes:
            self.dropped += 1
            return False
        self._q.append((item, size))
        self._bytes += size
        return True

    def take(self, n: int) -> list[T]:
        out: list[T] = []
        while self._q and len(out) < n:
            item, size = self._q.popleft()
            self._bytes -= size
            out.append(item)
        return out

    def __len__(self) -> int:
        return len(self._q)


def nbytes(*tensors: dict[str, Array]) -> int:
    return sum(a.nbytes for t in tensors for a in t.values())
