"""Tasks that run and end together, on :class:`asyncio.TaskGroup`: when one fails, or the agent
is told to stop, the others are cancelled and awaited by the group, never by hand.

A failure leaves here as itself, not wrapped in an exception group: callers (and the CLI, which
turns an :class:`~aiedge.errors.AiedgeError` into one line) see the error a task raised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Mapping
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")


class _Stopped(Exception):
    """Raised inside a group to end it when its stop event is set."""


def _raise_first(group: BaseExceptionGroup[BaseException]) -> NoReturn:
    """Raise the first error of ``group`` (or of the groups nested in it) that is not a stop."""
    leaves: list[BaseException] = []
    todo: list[BaseException] = [group]
    while todo:
        e = todo.pop(0)
        if isinstance(e, BaseExceptionGroup):
            todo[:0] = e.exceptions
        else:
            leaves.append(e)
    failed = [e for e in leaves if not isinstance(e, _Stopped)]
    raise (failed or leaves)[0] from None


async def run_all(coros: Mapping[str, Coroutine[Any, Any, object]]) -> None:
    """Run ``coros`` (by task name) until all have returned; the first to fail ends the others."""
    try:
        async with asyncio.TaskGroup() as tg:
            for name, coro in coros.items():
                tg.create_task(coro, name=name)
    except BaseExceptionGroup as group:
        _raise_first(group)


async def run_until(stop: asyncio.Event, coros: Mapping[str, Coroutine[Any, Any, object]]) -> None:
    """Run ``coros`` (by task name) until ``stop`` is set, or until one of them fails."""

    async def stopper() -> None:
        await stop.wait()
        raise _Stopped

    with contextlib.suppress(_Stopped):
        await run_all({**coros, "stop": stopper()})


async def alongside(work: Coroutine[Any, Any, T], side: Coroutine[Any, Any, None], name: str) -> T:
    """Await ``work`` while ``side`` runs beside it (a progress log); ``side`` is cancelled when
    ``work`` ends, and ``work``'s error is raised as itself."""

    async def main() -> T:
        try:
            return await work
        finally:
            helper.cancel()

    try:
        async with asyncio.TaskGroup() as tg:
            helper = tg.create_task(side, name=name)
            job = tg.create_task(main())
    except BaseExceptionGroup as group:
        _raise_first(group)
    return job.result()
