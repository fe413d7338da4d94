"""Prometheus metrics of ``aiedge serve`` (scraped by the agent and shipped to the core).

=============================================  =========  ==========================================
name                                           type       labels
=============================================  =========  ==========================================
aiedge_serve_requests_total                    counter    model, version, protocol, outcome
aiedge_serve_request_duration_seconds          histogram  model, protocol (whole request, decode to encode)
aiedge_serve_inference_duration_seconds        histogram  model, version (the runtime's predict only)
aiedge_serve_queue_depth                       gauge      model (requests waiting for an inference slot)
aiedge_serve_in_flight                         gauge      model (requests running in the runtime)
aiedge_serve_rejected_total                    counter    model (503s answered because the queue was full)
aiedge_serve_model_load_seconds                gauge      model, version
aiedge_serve_model_ready                       gauge      model, version (1 ready, 0 not)
process_cpu_seconds_total, process_resident_memory_bytes, ...   the server process (CPU, memory)
=============================================  =========  ==========================================

``outcome`` is ``success``, ``bad_request``, ``not_found``, ``unavailable`` or ``error``. Model
labels only ever hold names the server serves (unknown names count as ``_unknown``, unknown
versions as ``""``), so a client cannot blow up the series count.

The three per-request families are plain counters in :class:`RequestMetrics`, turned into
Prometheus families only when scraped: a prometheus_client ``labels().inc()`` and two
``observe()`` calls took longer than the model's own predict on a tabular model. They are only
ever updated from the event loop's thread, so they need no lock.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from aiedge.serve.metrics_ovms import SeedNamesCollector
from aiedge.serve.metrics_workers import WorkersMetrics

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = {200: "success", 400: "bad_request", 404: "not_found", 503: "unavailable"}
_LE = [repr(b) for b in LATENCY_BUCKETS] + ["+Inf"]  # as prometheus_client writes them: "0.0005", "1.0"


class _Histogram:
    __slots__ = ("buckets", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # not cumulative; the last is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        out, total = [], 0
        for le, n in zip(_LE, self.buckets, strict=True):
            total += n
            out.append((le, float(total)))
        return out


class RequestMetrics:
    """``aiedge_serve_requests_total``, ``aiedge_serve_request_duration_seconds`` and
    ``aiedge_serve_inference_duration_seconds``, as a collector over plain counters."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str, str], int] = {}
        self.request_seconds: dict[tuple[str, str], _Histogram] = {}
        self.inference_seconds: dict[tuple[str, str], _Histogram] = {}

    def observe_request(self, model: str, version: str, protocol: str, outcome: str, seconds: float) -> None:
        key = (model, version, protocol, outcome)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.request_seconds.get((model, protocol))
        if hist is None:
            hist = self.request_seconds[(model, protocol)] = _Histogram()
        hist.observe(seconds)

    def observe_inference(self, model: str, version: str, seconds: float) -> None:
        hist = self.inference_seconds.get((model, version))
        if hist is None:
            hist = self.inference_seconds[(model, version)] = _Histogram()
        hist.observe(seconds)

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        return self._families(with_samples=True)

    def _families(self, with_samples: bool = False) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "aiedge_serve_requests", "Inference requests", labels=["model", "version", "protocol", "outcome"]
        )
        request_s = HistogramMetricFamily(
            "aiedge_serve_request_duration_seconds", "Request latency", labels=["model", "protocol"]
        )
        inference_s = HistogramMetricFamily(
            "aiedge_serve_inference_duration_seconds", "Runtime predict latency", labels=["model", "version"]
        )
        if with_samples:
            for labels, n in list(self.requests.items()):
                requests.add_metric(list(labels), n)
            for family, hists in ((request_s, self.request_seconds), (inference_s, self.inference_seconds)):
                for pair, hist in list(hists.items()):
                    family.add_metric(list(pair), hist.cumulative(), hist.sum)
        yield from (requests, request_s, inference_s)


class ServeMetrics:
    """The server's metrics in ``registry`` (what ``/metrics`` writes). With ``workers`` (the shared
    folder and this worker's index), the ``aiedge_serve_*`` series are kept in a registry of this
    worker's own and ``registry`` holds their sum over every worker instead."""

    def __init__(self, registry: CollectorRegistry, workers: tuple[Path, int] | None = None) -> None:
        self.registry = registry
        own = CollectorRegistry() if workers else registry
        ProcessCollector(registry=registry)
        registry.register(SeedNamesCollector(registry))  # the seed's OVMS/MLServer names, at scrape time
        self.hot = RequestMetrics()
        own.register(self.hot)
        self.queue_depth = Gauge(
            "aiedge_serve_queue_depth", "Requests waiting for a slot", ["model"], registry=own
        )
        self.in_flight = Gauge("aiedge_serve_in_flight", "Requests in the runtime", ["model"], registry=own)
        self.rejected = Counter(
            "aiedge_serve_rejected", "Requests refused with 503, queue full", ["model"], registry=own
        )
        self.load_seconds = Gauge(
            "aiedge_serve_model_load_seconds", "Model load time", ["model", "version"], registry=own
        )
        self.ready = Gauge(
            "aiedge_serve_model_ready",
            "1 when the model version is ready",
            ["model", "version"],
            registry=own,
        )
        self.workers = WorkersMetrics(own, *workers) if workers else None
        if self.workers is not None:
            registry.register(self.workers)

    def observe_request(self, model: str, version: str, protocol: str, status: int, seconds: float) -> None:
        outcome = OUTCOMES.get(status) or ("error" if status >= 500 else "bad_request")
        self.hot.observe_request(model, version, protocol, outcome, seconds)

    def observe_inference(self, model: str, version: str, seconds: float) -> None:
        self.hot.observe_inference(model, version, seconds)
