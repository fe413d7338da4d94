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
labels only ever hold names the server serves (unknown names count as ``_unknown``), so a
client cannot blow up the series count.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

from aiedge.serve.metrics_ovms import SeedNamesCollector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
OUTCOMES = {200: "success", 400: "bad_request", 404: "not_found", 503: "unavailable"}


class ServeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        ProcessCollector(registry=registry)
        registry.register(SeedNamesCollector(registry))  # the seed's OVMS/MLServer names, at scrape time
        self.requests = Counter(
            "aiedge_serve_requests",
            "Inference requests",
            ["model", "version", "protocol", "outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "aiedge_serve_request_duration_seconds",
            "Request latency",
            ["model", "protocol"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "aiedge_serve_inference_duration_seconds",
            "Runtime predict latency",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "aiedge_serve_queue_depth", "Requests waiting for a slot", ["model"], registry=registry
        )
        self.in_flight = Gauge(
            "aiedge_serve_in_flight", "Requests in the runtime", ["model"], registry=registry
        )
        self.rejected = Counter(
            "aiedge_serve_rejected", "Requests refused with 503, queue full", ["model"], registry=registry
        )
        self.load_seconds = Gauge(
            "aiedge_serve_model_load_seconds", "Model load time", ["model", "version"], registry=registry
        )
        self.ready = Gauge(
            "aiedge_serve_model_ready",
            "1 when the model version is ready",
            ["model", "version"],
            registry=registry,
        )

    def observe_request(self, model: str, version: str, protocol: str, status: int, seconds: float) -> None:
        outcome = OUTCOMES.get(status, "error" if status >= 500 else "bad_request")
        self.requests.labels(model, version, protocol, outcome).inc()
        self.request_seconds.labels(model, protocol).observe(seconds)
