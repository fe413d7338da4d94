"""The shadow mirror: a copy of a share of answered requests goes to a candidate server, whose
answers are compared with the ones the clients already got.

Clients never wait for it: the request path only offers its decoded inputs and outputs (a
:class:`~aiedge.serve.taps.Tap`); a background task sends each queued sample as a V2 infer request
to the candidate (``POST {url}/v2/models/{model}/infer``), one at a time, and compares what comes
back with what was served: every served output must come back with the same shape and agree,
either element-wise within ``|candidate - served| <= atol + rtol * |served|`` or, with
``argmax``, on the argmax of the last axis (classifiers). The queue is bounded (what does not fit
is dropped and counted), and so is the rate (``max_per_second``, 50 by default): the mirror's HTTP
client costs the serving process CPU, so what it may take is capped whatever the traffic.

Nothing is mirrored until the site's agent sets a target through the control endpoint
(:mod:`aiedge.serve.rest.control`); the agent reads the counts there and decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from aiedge.serve.runtimes.base import NUMPY_TO_V2, Array
from aiedge.serve.taps import BoundedQueue, Sampler, nbytes

if TYPE_CHECKING:  # imported when mirroring starts: a server that never mirrors never loads httpx
    import httpx

log = logging.getLogger("aiedge.serve")

QUEUE_ITEMS = 256
QUEUE_BYTES = 8 * 1024 * 1024
TIMEOUT_S = 10.0
MAX_ANSWER_BYTES = 16 * 1024 * 1024

Sample = tuple[str, str, dict[str, Array], dict[str, Array]]


@dataclass(frozen=True)
class ShadowTarget:
    """Where and how to mirror: the candidate's base URL (loopback) and the comparison."""

    url: str
    share: float = 0.2
    rtol: float = 1e-5
    atol: float = 1e-6
    argmax: bool = False
    max_per_second: float = 50.0  # mirrored requests a second at most: bounds what mirroring costs


@dataclass
class ShadowStats:
    """What the mirror saw since its target was set."""

    target: ShadowTarget
    mirrored: int = 0  # sent to the candidate
    compared: int = 0  # answered, and compared
    agreed: int = 0
    errors: int = 0  # the candidate failed, timed out or answered something unreadable
    dropped: int = 0  # sampled but not sent: the queue was full
    max_abs_diff: float = 0.0
    seconds: float = 0.0  # the candidate's round trips, summed
    first_disagreement: str = ""
    started: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "url": self.target.url,
            "share": self.target.share,
            "max_per_second": self.target.max_per_second,
            "mirrored": self.mirrored,
            "compared": self.compared,
            "agreed": self.agreed,
            "disagreed": self.compared - self.agreed,
            "errors": self.errors,
            "dropped": self.dropped,
            "max_abs_diff": self.max_abs_diff,
            "mean_round_trip_s": self.seconds / self.mirrored if self.mirrored else 0.0,
            "first_disagreement": self.first_disagreement,
        }


def v2_request(inputs: dict[str, Array]) -> dict[str, Any] | None:
    """The V2 JSON body of ``inputs``; None when a tensor is not numeric (not mirrored)."""
    tensors = []
    for name, arr in inputs.items():
        datatype = NUMPY_TO_V2.get(arr.dtype)
        if datatype is None or arr.dtype.kind not in "biuf":
            return None
        flat = arr.reshape(-1)
        tensors.append({"name": name, "shape": list(arr.shape), "datatype": datatype, "data": flat})
    return {"inputs": tensors}


def compare(served: dict[str, Array], answer: Any, target: ShadowTarget) -> tuple[bool, float, str]:
    """Whether the candidate's V2 ``answer`` agrees with ``served``; the largest difference seen,
    and for a disagreement, why (one line)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("outputs"), list):
        return False, 0.0, "the answer has no outputs list"
    got: dict[str, Any] = {}
    for out in answer["outputs"]:
        if isinstance(out, dict) and isinstance(out.get("name"), str):
            got[out["name"]] = out
    worst = 0.0
    for name, want in served.items():
        if want.dtype.kind not in "biuf":
            continue
        out = got.get(name)
        if out is None:
            return False, worst, f"output {name!r} missing"
        try:
            arr = np.asarray(out.get("data"), dtype=np.float64).reshape(out.get("shape"))
        except (TypeError, ValueError):
            return False, worst, f"output {name!r}: data does not fit its shape"
        ref = want.astype(np.float64)
        if arr.shape != ref.shape:
            return False, worst, f"output {name!r}: shape {list(arr.shape)}, served {list(ref.shape)}"
        if not np.all(np.isfinite(arr) == np.isfinite(ref)):
            return False, worst, f"output {name!r}: NaN or inf where the served answer has none"
        diff = np.abs(np.nan_to_num(arr) - np.nan_to_num(ref))
        if diff.size:
            worst = max(worst, float(diff.max()))
        if target.argmax and ref.ndim >= 1 and ref.shape[-1] > 0:
            if not np.array_equal(np.argmax(arr, axis=-1), np.argmax(ref, axis=-1)):
                return False, worst, f"output {name!r}: argmax differs"
        elif not np.all(diff <= target.atol + target.rtol * np.abs(np.nan_to_num(ref))):
            return False, worst, f"output {name!r}: differs by up to {worst:.6g}"
    return True, worst, ""


class ShadowMirror:
    """The shadow tap of one server; :meth:`set` and :meth:`clear` are the control endpoint's."""

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self.stats: ShadowStats | None = None
        self._sampler = Sampler(0.0)
        self._queue: BoundedQueue[Sample] = BoundedQueue(QUEUE_ITEMS, QUEUE_BYTES)
        self._wake = asyncio.Event()
        self._spacing = 0.0  # seconds between two mirrored requests, at least
        self._next = 0.0  # monotonic time the next one may be taken

    def set(self, target: ShadowTarget) -> None:
        self.stats = ShadowStats(target)
        self._sampler = Sampler(target.share)
        self._spacing = 1.0 / target.max_per_second if target.max_per_second > 0 else 0.0
        self._next = 0.0
        self._queue.take(len(self._queue))  # what was queued for an earlier target is not compared

    def clear(self) -> None:
        self.stats = None
        self._queue.take(len(self._queue))

    # -- the request path -----------------------------------------------------------------------
    def offer(self, model: str, version: str, inputs: dict[str, Array], outputs: dict[str, Array]) -> None:
        stats = self.stats
        if stats is None or not self._sampler.take():
            return
        if self._spacing:
            now = time.monotonic()
            if now < self._next:
                return  # over the rate: not a sample (the share is of what the rate lets through)
            self._next = now + self._spacing
        if self._queue.put((model, version, inputs, outputs), nbytes(inputs, outputs)):
            self._wake.set()
        else:
            stats.dropped += 1

    # -- the background task --------------------------------------------------------------------
    async def run(self) -> None:
        import httpx

        client = self._client or httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False)
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while (batch := self._queue.take(1)) and self.stats is not None:
                    await self._mirror(client, self.stats, *batch[0])
        finally:
            if self._client is None:
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _mirror(
        self,
        client: httpx.AsyncClient,
        stats: ShadowStats,
        model: str,
        _version: str,
        inputs: dict[str, Array],
        outputs: dict[str, Array],
    ) -> None:
        body = v2_request(inputs)
        if body is None:
            stats.errors += 1
            return
        import httpx

        content = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
        t0 = time.perf_counter()
        try:
            r = await client.post(
                f"{stats.target.url}/v2/models/{model}/infer",
                content=content,
                headers={"Content-Type": "application/json"},
            )
            elapsed = time.perf_counter() - t0
            answer = r.json() if r.status_code == 200 and len(r.content) <= MAX_ANSWER_BYTES else None
        except (httpx.HTTPError, ValueError) as e:
            stats.mirrored += 1
            stats.errors += 1
            log.debug("shadow: %s did not answer: %s", stats.target.url, e)
            return
        stats.mirrored += 1
        stats.seconds += elapsed
        if answer is None:
            stats.errors += 1
            return
        agreed, worst, why = compare(outputs, answer, stats.target)
        stats.compared += 1
        stats.max_abs_diff = max(stats.max_abs_diff, worst)
        if agreed:
            stats.agreed += 1
        elif not stats.first_disagreement:
            stats.first_disagreement = why
