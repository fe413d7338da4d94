"""Dynamic batching: requests to one model version gathered into one predict along their first
(batch) dimension, as Triton's dynamic batcher does. A batch runs when it holds ``max_batch``
rows or when its first request has waited ``delay`` seconds, whichever comes first; a request
joins only a batch whose other dimensions and datatypes are its own (else the batch runs first).
Each request gets its own rows of every output back.

Off unless asked for (``AIEDGE_SERVE_MAX_BATCH``), and only for models whose every input and
output has a variable first dimension: throughput under load for a little latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from aiedge.serve.errors import InferenceError
from aiedge.serve.runtimes.base import Array, ModelSignature

Run = Callable[[dict[str, Array]], Awaitable[dict[str, Array]]]


def batchable(sig: ModelSignature) -> bool:
    """True when every input and output of ``sig`` has a variable first dimension."""
    specs = (*sig.inputs, *sig.outputs)
    return bool(specs) and all(len(s.shape) >= 1 and s.shape[0] == -1 for s in specs)


class Batcher:
    def __init__(self, run: Run, max_batch: int, delay: float) -> None:
        self._run, self.max_batch, self.delay = run, max_batch, delay
        self._pending: list[tuple[dict[str, Array], asyncio.Future[dict[str, Array]], int]] = []
        self._key: tuple[object, ...] = ()
        self._rows = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, inputs: dict[str, Array]) -> dict[str, Array]:
        rows = next(iter(inputs.values())).shape[0]
        if rows >= self.max_batch:
            return await self._run(inputs)  # a full batch on its own
        key = tuple((name, a.shape[1:], a.dtype) for name, a in inputs.items())
        if self._pending and (key != self._key or self._rows + rows > self.max_batch):
            self._flush()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[dict[str, Array]] = loop.create_future()
        self._pending.append((inputs, done, rows))
        self._key, self._rows = key, self._rows + rows
        if self._rows >= self.max_batch:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self.delay, self._flush)
        return await done

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._rows = self._pending, [], 0
        if batch:
            task = asyncio.get_running_loop().create_task(self._predict(batch))
            self._tasks.add(task)  # held until done, so the task is not collected mid-run
            task.add_done_callback(self._tasks.discard)

    async def _predict(
        self, batch: list[tuple[dict[str, Array], asyncio.Future[dict[str, Array]], int]]
    ) -> None:
        try:
            if len(batch) == 1:
                outputs = await self._run(batch[0][0])
                _answer(batch[0][1], outputs)
                return
            merged = {name: np.concatenate([b[0][name] for b in batch]) for name in batch[0][0]}
            outputs = await self._run(merged)
            total = sum(b[2] for b in batch)
            wrong = [n for n, a in outputs.items() if a.ndim == 0 or a.shape[0] != total]
            if wrong:
                raise InferenceError(
                    f"output {wrong[0]!r} of a batch of {total} rows has another first dimension"
                )
            start = 0
            for _, done, rows in batch:
                _answer(done, {n: a[start : start + rows] for n, a in outputs.items()})
                start += rows
        except Exception as e:  # every request of the batch learns why (the runtime's error included)
            for _, done, _ in batch:
                if not done.done():
                    done.set_exception(e)


def _answer(done: asyncio.Future[dict[str, Array]], outputs: dict[str, Array]) -> None:
    if not done.done():  # its client may have gone (the request was cancelled)
        done.set_result(outputs)
