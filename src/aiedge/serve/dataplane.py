"""The data plane: the one core every transport (V2 REST, TF-Serving REST, ...) calls.

It validates decoded tensors against the model's signature and runs inference off the event
loop. It knows nothing of HTTP: it raises serve errors, and transports map them to statuses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from aiedge import __version__
from aiedge.serve.batching import Batcher, batchable
from aiedge.serve.errors import InferenceError, ModelNotReady, Overloaded, ServeError
from aiedge.serve.limits import Limits
from aiedge.serve.metrics import ServeMetrics
from aiedge.serve.registry import FAILED, LOADING, READY, UNLOADED, ModelRegistry, ModelVersion
from aiedge.serve.runtimes.base import Array, LoadOptions
from aiedge.serve.taps import Tap
from aiedge.serve.tensors import check_inputs, tabular_input

log = logging.getLogger("aiedge.serve")

SERVER_NAME = "aiedge"
# A model whose predict averages under this runs on the event loop: a 6 us ONNX tree ensemble would
# spend several times longer in the hop to a worker thread. Slower models run on threads, so the
# loop keeps serving other requests; every model starts on threads until it has been measured.
INLINE_PREDICT_S = 0.0002
EXTENSIONS = ["model_repository_extension"]
# our load states -> the repository extension's (UNKNOWN, READY, UNAVAILABLE, LOADING, UNLOADING)
REPOSITORY_STATES = {READY: "READY", LOADING: "LOADING", FAILED: "UNAVAILABLE", UNLOADED: "UNAVAILABLE"}


class Admission:
    """Bounded concurrency for one model: ``slots`` requests run, ``queue`` more may wait, the rest
    are refused at once (Overloaded -> 503 + Retry-After) rather than queueing without limit."""

    def __init__(self, model: str, slots: int, queue: int, metrics: ServeMetrics) -> None:
        self.model, self.queue, self._sem, self._waiting = model, queue, asyncio.Semaphore(slots), 0
        self._depth = metrics.queue_depth.labels(model)
        self._in_flight = metrics.in_flight.labels(model)
        self._rejected = metrics.rejected.labels(model)

    async def __aenter__(self) -> None:
        if self._sem.locked():
            if self._waiting >= self.queue:
                self._rejected.inc()
                raise Overloaded(
                    f"model {self.model!r} is busy ({self.queue} requests waiting); retry shortly"
                )
            self._waiting += 1
            self._depth.inc()
            try:
                await self._sem.acquire()
            finally:
                self._waiting -= 1
                self._depth.dec()
        else:
            await self._sem.acquire()
        self._in_flight.inc()

    async def __aexit__(self, *exc: object) -> None:
        self._in_flight.dec()
        self._sem.release()


class DataPlane:
    def __init__(
        self,
        registry: ModelRegistry,
        metrics: ServeMetrics | None = None,
        slots: int = 4,
        queue: int = 128,
        limits: Limits | None = None,
        max_batch: int = 0,
        batch_delay: float = 0.002,
        taps: Sequence[Tap] = (),
    ) -> None:
        self.registry = registry
        self.taps = tuple(taps)  # drift, capture, shadow mirror: see serve/taps.py
        self.metrics = metrics or ServeMetrics(CollectorRegistry())
        self.limits = limits or Limits()
        self._slots, self._queue = slots, queue
        self._admission = {name: Admission(name, slots, queue, self.metrics) for name in registry.models}
        self._max_batch, self._batch_delay = max_batch, batch_delay
        self._batchers: dict[tuple[str, str], Batcher] = {}

    def observe(self, protocol: str, name: str, version: str | None, status: int, t0: float) -> None:
        """Count one request; names the server does not serve count as ``_unknown``, versions it
        does not have as ``""`` (a client must not be able to make up label values)."""
        versions = self.registry.models.get(name)
        if versions is None:
            name, version = "_unknown", ""
        elif version not in versions:
            version = ""
        self.metrics.observe_request(name, version or "", protocol, status, time.perf_counter() - t0)

    def record_loaded(self) -> None:
        """After (re)loading: the ready and load-time gauges, and a batcher per batchable version."""
        for mv in self.registry.all_versions():
            self._batcher(mv)
            self.metrics.ready.labels(mv.name, mv.version).set(1 if mv.state == READY else 0)
            if mv.state == READY:
                self.metrics.load_seconds.labels(mv.name, mv.version).set(mv.load_seconds)

    # -- health and metadata ------------------------------------------------------------------
    def live(self) -> bool:
        return True

    def ready(self) -> bool:
        versions = self.registry.all_versions()
        return bool(versions) and all(mv.state == READY for mv in versions)

    def server_metadata(self) -> dict[str, Any]:
        return {"name": SERVER_NAME, "version": __version__, "extensions": EXTENSIONS}

    def model_ready(self, name: str, version: str | None = None) -> ModelVersion:
        return self.registry.get(name, version)

    def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        mv = self.registry.get(name, version)
        meta: dict[str, Any] = {
            "name": mv.name,
            "versions": list(self.registry.models[mv.name]),
            "platform": "",
            "inputs": [],
            "outputs": [],
            "state": mv.state,
        }
        if mv.reason:
            meta["reason"] = mv.reason
        if mv.model is not None:
            sig = mv.model.signature
            meta["platform"] = sig.platform
            meta["inputs"] = [t.to_json() for t in sig.inputs]
            meta["outputs"] = [t.to_json() for t in sig.outputs]
            # where it runs, and why not where the App asked (the agent reports it as a warning)
            for key in ("device", "device_fallback"):
                if key in sig.labels:
                    meta[key] = sig.labels[key]
        return meta

    # -- inference ------------------------------------------------------------------------------
    def loaded(self, name: str, version: str | None = None) -> ModelVersion:
        mv = self.registry.get(name, version)
        if mv.state != READY or mv.model is None:
            why = f": {mv.reason}" if mv.reason else ""
            raise ModelNotReady(f"model {name!r} version {mv.version} is {mv.state}{why}")
        return mv

    # -- repository extension --------------------------------------------------------------------
    def repository_index(self, ready_only: bool = False) -> list[dict[str, str]]:
        """Every model version with its state as the repository extension names them (READY,
        LOADING, UNAVAILABLE with a reason); ``ready_only`` keeps the ready ones."""
        return [
            {
                "name": mv.name,
                "version": mv.version,
                "state": REPOSITORY_STATES.get(mv.state, "UNKNOWN"),
                "reason": mv.reason or ("unloaded" if mv.state == UNLOADED else ""),
            }
            for mv in self.registry.all_versions()
            if not ready_only or mv.state == READY
        ]

    async def load(self, name: str, options: LoadOptions) -> None:
        versions = await asyncio.to_thread(self.registry.reload, name, options)
        if name not in self._admission:
            self._admission[name] = Admission(name, self._slots, self._queue, self.metrics)
        self.record_loaded()
        failed = [mv for mv in versions if mv.state != READY]
        if failed:
            raise ModelNotReady(
                f"model {name!r} version {failed[0].version} failed to load: {failed[0].reason}"
            )

    def unload(self, name: str) -> None:
        self.registry.unload(name)
        self.record_loaded()

    async def infer(
        self, mv: ModelVersion, inputs: dict[str, Array], checked: bool = False
    ) -> dict[str, Array]:
        """Run one request. ``checked``: the transport already checked what the request declared
        (``tensors.check_declared``) and decoded exactly that, so only tabular casting is left."""
        assert mv.model is not None
        sig = mv.model.signature
        if sig.tabular:
            inputs = tabular_input(sig.inputs[0], inputs)
        elif not checked:
            check_inputs(sig.inputs, inputs)
        batcher = self._batchers.get(mv.key)
        if batcher is not None:
            outputs = await batcher.submit(inputs)
        else:
            outputs = await self._run(mv, inputs)
        for tap in self.taps:
            tap.offer(mv.name, mv.version, inputs, outputs)
        return outputs

    def _batcher(self, mv: ModelVersion) -> None:
        """Gather this version's requests into batches, when batching is on and the model allows it."""
        self._batchers.pop(mv.key, None)
        if self._max_batch > 1 and mv.model is not None:
            if batchable(mv.model.signature):
                self._batchers[mv.key] = Batcher(
                    lambda inputs: self._run(mv, inputs), self._max_batch, self._batch_delay
                )
            else:
                log.info("model %s version %s: not batched (a fixed first dimension)", mv.name, mv.version)

    async def _run(self, mv: ModelVersion, inputs: dict[str, Array]) -> dict[str, Array]:
        if mv.predict_s < INLINE_PREDICT_S:
            # cheaper than the hop to a worker thread; and with the loop's one thread running it,
            # no other request is in the runtime meanwhile, so there is nothing to admit
            t0 = time.perf_counter()
            result = _predict(mv, inputs)
            elapsed = time.perf_counter() - t0
        else:
            async with self._admission[mv.name]:
                result, elapsed = await asyncio.to_thread(_timed_predict, mv, inputs)
        # a slower call (the machine busy, a bigger batch) moves the estimate up slowly, a faster
        # one down fast: a loaded machine must not push a 5 us model onto threads for good
        mv.predict_s += (elapsed - mv.predict_s) * (0.5 if elapsed < mv.predict_s else 0.02)
        self.metrics.observe_inference(mv.name, mv.version, elapsed)
        return result


def _predict(mv: ModelVersion, inputs: dict[str, Array]) -> dict[str, Array]:
    assert mv.model is not None
    try:
        return mv.model.predict(inputs)
    except ServeError as e:  # the runtime said what it is (its host died: not ready, not the input)
        raise type(e)(f"model {mv.name!r}: {e}") from e
    except Exception as e:  # the runtime's own error: the input passed our checks but not its own
        reason = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        raise InferenceError(f"model {mv.name!r} rejected the input: {reason}") from e


def _timed_predict(mv: ModelVersion, inputs: dict[str, Array]) -> tuple[dict[str, Array], float]:
    """``_predict`` timed on the thread that runs it (the hop to the thread is not the model's)."""
    t0 = time.perf_counter()
    result = _predict(mv, inputs)
    return result, time.perf_counter() - t0
